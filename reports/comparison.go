package reports

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/stats"
)

// RateTolerance is how far apart (relative) the achieved publish rates of
// two series may be for their latencies to be compared: latency depends
// on load, so a latency ratio between runs at different rates says
// nothing about the systems.
const RateTolerance = 0.05

// Comparison is one ratio of a report: a metric of one series (the
// subject) divided by the same metric of its baseline, in one workload,
// computed from every repetition of both ([stats.CompareRatio]).
type Comparison struct {
	Workload string `json:"workload"`
	// Metric is a [results.Metrics] name ("publishRate", "endToEndP99").
	Metric string `json:"metric"`
	// Subject and Baseline are series labels as the report shows them.
	Subject  string `json:"subject"`
	Baseline string `json:"baseline"`
	// Ratio, its interval, the U test's p-value, the verdict and the
	// repetitions of each side (n1 subject, n2 baseline).
	stats.Ratio
	// Comparable is false for a latency ratio between series whose mean
	// achieved publish rates differ by more than [RateTolerance], and for
	// a metric one side did not measure.
	Comparable bool `json:"comparable"`
	// Note says why the ratio is not comparable.
	Note string `json:"note,omitempty"`
}

// comparisonFile is the layout of comparison.json.
type comparisonFile struct {
	// Confidence of every interval; Alpha the significance level.
	Confidence float64 `json:"confidence"`
	Alpha      float64 `json:"alpha"`
	// RateTolerance is the comparability rule for latencies.
	RateTolerance float64      `json:"rateTolerance"`
	Comparisons   []Comparison `json:"comparisons"`
}

// baselineChoice is what --baseline named: a result set, a system, or
// both (a series label "system [set]"); empty fields take the defaults.
type baselineChoice struct{ set, driver string }

// resolveBaseline finds name among the sets, systems and series labels
// of runs.
func resolveBaseline(name string, runs []*Run) (baselineChoice, error) {
	if name == "" {
		return baselineChoice{}, nil
	}
	var sets, drivers []string
	for _, r := range runs {
		if !slices.Contains(sets, r.Set) {
			sets = append(sets, r.Set)
		}
		if !slices.Contains(drivers, r.Driver) {
			drivers = append(drivers, r.Driver)
		}
	}
	for _, r := range runs {
		switch name {
		case r.Set:
			return baselineChoice{set: r.Set}, nil
		case r.Driver:
			return baselineChoice{driver: r.Driver}, nil
		case r.Label:
			return baselineChoice{set: r.Set, driver: r.Driver}, nil
		}
	}
	return baselineChoice{}, fmt.Errorf("%w %q: neither a result set (%s) nor a system (%s) of the results",
		ErrBadBaseline, name, strings.Join(sets, ", "), strings.Join(drivers, ", "))
}

// pairs returns, for every series of sec that is compared, the series it
// is compared with. The rule (docs/reports.md): the baseline set is the
// chosen one, else the first --in set the section has; a set's baseline
// system is the chosen one when the set ran it, else the set's first
// system (the first --system given). A series of another set is compared
// with the same system in the baseline set (before vs after), or with
// that set's baseline system when the baseline set did not run it; a
// series of the baseline set with the set's baseline system. Notes say
// where a choice could not be followed.
func pairs(sec *Section, choice baselineChoice) (subjects, bases []*Run, notes []string) {
	baseSet := sec.Runs[0].Set
	if choice.set != "" {
		if slices.ContainsFunc(sec.Runs, func(r *Run) bool { return r.Set == choice.set }) {
			baseSet = choice.set
		} else {
			notes = append(notes, fmt.Sprintf("Baseline set %s has no run of this workload; compared with %s.", choice.set, baseSet))
		}
	}
	find := func(set, driver string) *Run {
		for _, r := range sec.Runs {
			if r.Set == set && r.Driver == driver {
				return r
			}
		}
		return nil
	}
	setBase := func(set string) *Run {
		if choice.driver != "" {
			if r := find(set, choice.driver); r != nil {
				return r
			}
		}
		// The set's first system with figures; a system whose every
		// repetition failed is compared with nothing.
		for _, r := range sec.Runs {
			if r.Set == set && measured(sec, r) {
				return r
			}
		}
		for _, r := range sec.Runs {
			if r.Set == set {
				return r
			}
		}
		return nil
	}
	if b := setBase(baseSet); choice.driver != "" && b.Driver != choice.driver {
		notes = append(notes, fmt.Sprintf("Baseline system %s has no run of this workload in %s; compared with %s.", choice.driver, baseSet, b.Label))
	}
	for _, r := range sec.Runs {
		var base *Run
		if r.Set != baseSet {
			if base = find(baseSet, r.Driver); base == nil {
				base = setBase(baseSet)
			}
		} else if b := setBase(baseSet); b != r {
			base = b
		}
		if base != nil {
			subjects, bases = append(subjects, r), append(bases, base)
		}
	}
	return subjects, bases, notes
}

// compareSeries compares every metric of subject's repetitions with
// base's.
func compareSeries(sec *Section, subject, base *Run) []Comparison {
	sr, br := resultsOf(sec.Reps[subject.Label]), resultsOf(sec.Reps[base.Label])
	pub, _ := results.MetricByName("publishRate")
	sRate, bRate := stats.Summarize(pub.Values(sr)).Mean, stats.Summarize(pub.Values(br)).Mean
	var out []Comparison
	for _, name := range results.HeadlineMetrics {
		m, _ := results.MetricByName(name)
		sv, bv := m.Values(sr), m.Values(br)
		c := Comparison{Workload: sec.Name, Metric: m.Name, Subject: subject.Label, Baseline: base.Label,
			Ratio: stats.CompareRatio(sv, bv), Comparable: true}
		switch {
		case len(sv) == 0 || len(bv) == 0:
			c.Comparable, c.Note = false, "not measured on both sides"
		case m.Latency && (bRate <= 0 || math.Abs(sRate/bRate-1) > RateTolerance):
			c.Comparable = false
			c.Note = fmt.Sprintf("achieved publish rates differ by more than %.0f%% (%.0f vs %.0f msg/s)", RateTolerance*100, sRate, bRate)
		}
		out = append(out, c)
	}
	return out
}

// measured reports whether some repetition of r's series has figures.
func measured(sec *Section, r *Run) bool { return len(okRuns(sec.Reps[r.Label])) > 0 }

func resultsOf(runs []*Run) []*results.Result {
	out := make([]*results.Result, len(runs))
	for i, r := range runs {
		out[i] = r.Result
	}
	return out
}

// comparisons computes every section's comparisons and their tables.
func comparisons(secs []*Section, choice baselineChoice) ([]Comparison, []table) {
	var all []Comparison
	var tables []table
	for _, sec := range secs {
		if sec.sweep || len(slices.DeleteFunc(slices.Clone(sec.Runs), func(r *Run) bool { return !measured(sec, r) })) < 2 {
			continue
		}
		subjects, bases, notes := pairs(sec, choice)
		if len(subjects) == 0 {
			continue
		}
		t := table{Title: sec.Name + ": ratios to the baseline (95% confidence)", Header: []string{"system", "baseline"}}
		for _, name := range results.HeadlineMetrics {
			m, _ := results.MetricByName(name)
			t.Header = append(t.Header, strings.TrimSuffix(m.Label, " ms"))
		}
		for i, s := range subjects {
			cs := compareSeries(sec, s, bases[i])
			row := []string{s.Label, bases[i].Label}
			for _, c := range cs {
				row = append(row, c.cell())
			}
			t.Rows = append(t.Rows, row)
			all = append(all, cs...)
		}
		t.Notes = append(notes, comparisonNote)
		if w := durabilityWarning(append(slices.Clone(subjects), bases...)); w != "" {
			t.Notes = append(t.Notes, w+".")
		}
		tables = append(tables, t)
	}
	return all, tables
}

// comparisonNote explains the cells of a comparison table.
const comparisonNote = "Ratio = system / baseline from every repetition: rates above 1x are faster, latencies above 1x slower. " +
	"\"1.20x [1.10-1.31]\": significant (Mann-Whitney U, p < 0.05), with the 95% interval of the ratio (Hodges-Lehmann). " +
	"\"~ 1.02x (p=0.40)\": no significant difference; \"too few\": with so few repetitions (n subject + baseline) no difference can be significant: run --repeat 5. " +
	"\"n/c\": latencies of runs whose achieved publish rates differ by more than 5% are not comparable."

// cell prints a comparison for a table.
func (c Comparison) cell() string {
	switch {
	case !c.Comparable && c.N1 > 0 && c.N2 > 0:
		return fmt.Sprintf("n/c (%.2fx)", c.Ratio.Ratio)
	case !c.Comparable:
		return "-"
	case c.Significant && c.Bounded:
		return fmt.Sprintf("%.2fx [%.2f-%.2f]", c.Ratio.Ratio, c.Low, c.High)
	case c.Significant:
		return fmt.Sprintf("%.2fx (p=%.3f)", c.Ratio.Ratio, c.P)
	case !c.Bounded:
		return fmt.Sprintf("~ %.2fx (n=%d+%d: too few)", c.Ratio.Ratio, c.N1, c.N2)
	}
	return fmt.Sprintf("~ %.2fx (p=%.2f)", c.Ratio.Ratio, c.P)
}

// writeComparisons writes comparison.json.
func writeComparisons(path string, cs []Comparison) error {
	data, err := json.MarshalIndent(comparisonFile{
		Confidence: stats.Confidence, Alpha: stats.Alpha, RateTolerance: RateTolerance,
		Comparisons: append([]Comparison{}, cs...),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
