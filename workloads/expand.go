package workloads

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// specInfo is what the parser knows about a workload beyond its values:
// where each key was written, and which keys are swept.
type specInfo struct {
	file  string         // path as given to Load or Parse
	lines map[string]int // canonical key path → line of its value
	axes  []axis         // sweep axes in expansion order; nil on concrete runs
}

// axis is one swept key: a list value whose items each give one run.
type axis struct {
	key    string       // key as written, used in Sweep and run names (e.g. "delivery.prefetch")
	canon  string       // canonical key path (duration and testDurationMinutes share "duration")
	values []*yaml.Node // one node per run, already checked to decode
	labels []string     // value as shown in Sweep and names
	set    setter       // applies one value to a workload
}

func (s *specInfo) clone() *specInfo {
	c := &specInfo{file: s.file, lines: make(map[string]int, len(s.lines))}
	for k, v := range s.lines {
		c.lines[k] = v
	}
	c.axes = append([]axis(nil), s.axes...)
	return c
}

// lineOf returns the line a key path was written on, trying the path and
// then its parents ("keyDistributor.exponent", then "keyDistributor").
func (s *specInfo) lineOf(key string) int {
	if s == nil {
		return 0
	}
	for key != "" {
		if l, ok := s.lines[key]; ok {
			return l
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// sweptKey reports whether key (or a parent path of it) is swept.
func (s *specInfo) sweptKey(key string) bool {
	if s == nil {
		return false
	}
	for _, a := range s.axes {
		if key == a.canon || strings.HasPrefix(key, a.canon+".") {
			return true
		}
	}
	return false
}

// dropAxes removes the axes whose canonical key is canon or lies under it
// (canon "churn" drops "churn.membership").
func (s *specInfo) dropAxes(canon string) {
	kept := s.axes[:0]
	for _, a := range s.axes {
		if a.canon != canon && !strings.HasPrefix(a.canon, canon+".") {
			kept = append(kept, a)
		}
	}
	s.axes = kept
}

// runCount is the size of the sweep's cartesian product, saturating at
// MaxRuns+1 so that huge products cannot overflow.
func (s *specInfo) runCount() int {
	n := 1
	for _, a := range s.axes {
		n *= len(a.values)
		if n > MaxRuns {
			return MaxRuns + 1
		}
	}
	return n
}

// Expand returns the concrete runs of a workload: one per combination of its
// sweep (list-valued) keys, as a cartesian product in which the first swept
// key in the file varies slowest and each list keeps its order. Each run has
// Sweep set to the varied values and Name like
// "throughput-per-partition[partitionsPerTopic=4]". A workload without sweeps
// expands to itself, with an empty (non-nil) Sweep. Expand does not modify w
// and the runs share no memory with it.
func (w Workload) Expand() []Workload {
	if w.spec == nil || len(w.spec.axes) == 0 {
		r := w.clone()
		r.Sweep = map[string]string{}
		r.Delivery.unfillIdempotent()
		r.Delivery.fillIdempotent()
		return []Workload{r}
	}
	axes := w.spec.axes
	total := w.spec.runCount()
	if total > MaxRuns {
		total = MaxRuns // Parse rejects this; never allocate without bound
	}
	runs := make([]Workload, 0, total)
	idx := make([]int, len(axes))
	for range total {
		runs = append(runs, w.run(axes, idx))
		// Odometer increment: the last axis varies fastest.
		for i := len(idx) - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(axes[i].values) {
				break
			}
			idx[i] = 0
		}
	}
	return runs
}

// run builds the concrete run for one index into each axis.
func (w Workload) run(axes []axis, idx []int) Workload {
	r := w.clone()
	r.Sweep = make(map[string]string, len(axes))
	parts := make([]string, len(axes))
	// Runs sweeping delivery.acks get the acks-dependent default of their
	// own acks unless idempotent was set.
	r.Delivery.unfillIdempotent()
	for i, a := range axes {
		n := a.values[idx[i]]
		// Every value was decoded once at parse time, so set cannot fail.
		_ = a.set(&r, n)
		recordLines(r.spec.lines, a.canon, n.Line, n)
		r.Sweep[a.key] = a.labels[idx[i]]
		parts[i] = a.key + "=" + a.labels[idx[i]]
	}
	r.Name = w.Name + "[" + strings.Join(parts, ",") + "]"
	r.spec.axes = nil
	r.Delivery.fillIdempotent()
	return r
}

// recordLines stores the line of a key path and, for a mapping value, the
// lines of its keys as path.key.
func recordLines(lines map[string]int, path string, line int, n *yaml.Node) {
	lines[path] = line
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		lines[path+"."+n.Content[i].Value] = n.Content[i].Line
	}
}
