package reports

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/brokerbench/brokerbench/results"
)

// Run is one result file with the names a report shows for it.
type Run struct {
	// Result is the file as read; reports never modify it.
	*results.Result
	// Set is the label of the input folder the file came from.
	Set string
	// Dir is the folder the file was read from.
	Dir string
	// Label names the line in charts and the row in tables: the system,
	// with the set label when the same system appears in several sets.
	Label string
	// D are the derived figures (mean rates, skew, pauses).
	D results.Derived
}

// ok reports whether the run has figures to draw: it is ok, or degraded
// (measured, but not at the load asked for; the table says why).
func (r *Run) ok() bool { return r.Complete() }

// legend is the chart legend entry: system, server version and the
// settings that distinguish runs of one workload.
func (r *Run) legend() string {
	s := r.Label
	if v := r.Meta.System.Server; v != "" && v != "unknown" {
		s += " (" + ascii(v) + ")"
	}
	return s
}

// settings describes a run's shape for legends and tables.
func (r *Run) settings() string {
	return fmt.Sprintf("%d part., %d prod., %d cons., %d B", r.Partitions, r.ProducersPerTopic, r.ConsumersPerTopic, r.MessageSize)
}

// load reads every input folder. Set labels are the folders' base names,
// made unique with their parent when two folders share a base name.
func load(ctx context.Context, dirs []string) (runs []*Run, skipped []string, err error) {
	if len(dirs) == 0 {
		return nil, nil, fmt.Errorf("%w: no input folder given", ErrNoResults)
	}
	labels := setLabels(dirs)
	for i, dir := range dirs {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		rs, sk, err := results.ReadDir(dir)
		if err != nil {
			return nil, nil, err
		}
		if len(rs) == 0 {
			return nil, nil, fmt.Errorf("%w in %s", ErrNoResults, dir)
		}
		skipped = append(skipped, sk...)
		for _, r := range rs {
			runs = append(runs, &Run{Result: r, Set: labels[i], Dir: dir, D: results.Derive(r)})
		}
	}
	nameRuns(runs, len(dirs) > 1)
	return runs, skipped, nil
}

func setLabels(dirs []string) []string {
	labels := make([]string, len(dirs))
	count := map[string]int{}
	for i, d := range dirs {
		labels[i] = filepath.Base(filepath.Clean(d))
		count[labels[i]]++
	}
	for i, d := range dirs {
		if count[labels[i]] > 1 {
			labels[i] = filepath.Join(filepath.Base(filepath.Dir(filepath.Clean(d))), labels[i])
		}
	}
	return labels
}

// nameRuns sets each run's Label: the driver alone when it is unique, or
// "driver [set]" when one driver appears in several sets (before vs after).
func nameRuns(runs []*Run, several bool) {
	sets := map[string]map[string]bool{}
	for _, r := range runs {
		if sets[r.Driver] == nil {
			sets[r.Driver] = map[string]bool{}
		}
		sets[r.Driver][r.Set] = true
	}
	for _, r := range runs {
		r.Label = r.Driver
		if several && len(sets[r.Driver]) > 1 {
			r.Label += " [" + r.Set + "]"
		}
	}
}

// Section is the part of a report about one workload (or one sweep
// scenario): its runs, one per series, and its charts.
type Section struct {
	// Name is the workload name (with sweep values), or the scenario name
	// followed by "(sweep)" for the partition-sweep section.
	Name string
	// Runs are the section's results in series order, one per series:
	// the first repetition of each. Charts draw these.
	Runs []*Run
	// Reps are every repetition of each series, by label (in a sweep
	// section by [sweepPointKey]), in repetition order; tables, comparisons
	// and error bars summarise these.
	Reps map[string][]*Run
	// Charts are drawn in this order in every output.
	Charts []*Chart
	sweep  bool
	// capacity is set on a system's capacity section (hockey sticks and
	// sweep fits); its tables are on the capacity page.
	capacity *capSystem
}

// hasTable reports whether the section has a per-run summary table: the
// sweep and capacity sections have theirs elsewhere.
func (s *Section) hasTable() bool { return !s.sweep && s.capacity == nil }

// sections groups runs by workload, in order of first appearance, and adds
// a sweep section after the last workload of each partition-sweep scenario.
func sections(runs []*Run) []*Section {
	var out []*Section
	idx := map[string]*Section{}
	first := map[*Run]bool{}
	for _, r := range runs {
		s := idx[r.Workload]
		if s == nil {
			s = &Section{Name: r.Workload, Reps: map[string][]*Run{}}
			idx[r.Workload] = s
			out = append(out, s)
		}
		if s.Reps[r.Label] == nil {
			first[r] = true
			s.Runs = append(s.Runs, r)
		}
		s.Reps[r.Label] = append(s.Reps[r.Label], r)
	}
	sweeps := map[string]*Section{}
	var order []string
	for _, r := range runs {
		if !isSweep(r) || !first[r] {
			continue
		}
		s := sweeps[r.Scenario]
		if s == nil {
			s = &Section{Name: r.Scenario + " (sweep)", sweep: true, Reps: map[string][]*Run{}}
			sweeps[r.Scenario] = s
			order = append(order, r.Scenario)
		}
		s.Runs = append(s.Runs, r)
		// A sweep section has one series per system but one point per
		// sweep value: its repetitions are kept per point.
		s.Reps[sweepPointKey(r)] = idx[r.Workload].Reps[r.Label]
	}
	for _, sc := range order {
		last := -1
		for i, s := range out {
			if len(s.Runs) > 0 && s.Runs[0].Scenario == sc && !s.sweep {
				last = i
			}
		}
		out = slices.Insert(out, last+1, sweeps[sc])
	}
	return out
}

// sweepPointKey keys the repetitions of one point of a sweep section.
func sweepPointKey(r *Run) string { return r.Workload + "\x00" + r.Label }

// isSweep reports whether r is one point of a partition-count sweep.
func isSweep(r *Run) bool {
	return r.ok() && slices.Contains(r.Report, "per-partition") && r.Sweep["partitionsPerTopic"] != ""
}

// hasHint reports whether the run's workload asks for a figure.
func hasHint(r *Run, hints ...string) bool {
	for _, h := range hints {
		if slices.Contains(r.Report, h) {
			return true
		}
	}
	return false
}

// seriesLabels returns the distinct labels of runs in order.
func seriesLabels(runs []*Run) []string {
	var out []string
	for _, r := range runs {
		if !slices.Contains(out, r.Label) {
			out = append(out, r.Label)
		}
	}
	return out
}

// sortRuns orders runs by workload, then set order (the --in order), then
// system in the order the set ran them (the --system order: the system
// whose first run started first comes first), then repetition, so that
// series keep one colour across all charts and the first series of a set
// is its first system. Only files without start times (OMB's) fall back
// to name order.
func sortRuns(runs []*Run, dirs []string) {
	setIdx := map[string]int{}
	for i, l := range setLabels(dirs) {
		setIdx[l] = i
	}
	type key struct{ set, driver string }
	started := map[key]int64{}
	for _, r := range runs {
		k := key{r.Set, r.Driver}
		t := r.Meta.Started.UnixNano()
		if r.Meta.Started.IsZero() {
			t = math.MaxInt64
		}
		if v, ok := started[k]; !ok || t < v {
			started[k] = t
		}
	}
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i], runs[j]
		if a.Workload != b.Workload {
			return naturalLess(a.Workload, b.Workload)
		}
		if setIdx[a.Set] != setIdx[b.Set] {
			return setIdx[a.Set] < setIdx[b.Set]
		}
		if ta, tb := started[key{a.Set, a.Driver}], started[key{b.Set, b.Driver}]; ta != tb {
			return ta < tb
		}
		if a.Driver != b.Driver {
			return a.Driver < b.Driver
		}
		ia, _ := a.Repetition()
		ib, _ := b.Repetition()
		return ia < ib
	})
}

// ascii replaces characters a PDF's standard fonts would garble
// (gonum/plot#347) so every output shows the same text.
func ascii(s string) string {
	r := strings.NewReplacer("±", "+-", "µ", "u", "≤", "<=", "≥", ">=", "—", "-", "–", "-", "×", "x")
	s = r.Replace(s)
	return strings.Map(func(c rune) rune {
		if c > 126 || (c < 32 && c != '\n') {
			return '?'
		}
		return c
	}, s)
}

// naturalLess orders strings with embedded numbers by value, so that
// "partitionsPerTopic=2" sorts before "partitionsPerTopic=16".
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// repsOf returns the repetitions of r's series in the section; a section
// without repetitions (a capacity page, whose runs are confirmation runs
// of different searches) has r alone.
func (s *Section) repsOf(r *Run) []*Run {
	if reps := s.Reps[r.Label]; len(reps) > 0 {
		return reps
	}
	return []*Run{r}
}
