package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/results"
)

// fakeRun is one repetition of driver in set, started at minute start,
// publishing at rate with the given p50 latency.
func fakeRun(set, driver string, start int, rep, of int, rate, p50 float64) *Run {
	r := &results.Result{Status: results.StatusOK, Workload: "w", Driver: driver}
	r.Meta.Started = time.Date(2026, 12, 1, 0, start, 0, 0, time.UTC)
	r.Samples = []results.Sample{{PublishRate: rate, ConsumeRate: rate}}
	r.Latency.Publish = metrics.Summary{Count: 100, P50: p50, P99: p50 * 3}
	r.Latency.EndToEnd = r.Latency.Publish
	if of > 1 {
		r.Repeat = &results.Repeat{Index: rep, Of: of}
	}
	return &Run{Result: r, Set: set, D: results.Derive(r)}
}

// prepared sorts and names runs as load and build do and returns the
// section of workload "w".
func prepared(runs []*Run, sets ...string) *Section {
	sortRuns(runs, sets)
	nameRuns(runs, len(sets) > 1)
	return sections(runs)[0]
}

func pairLabels(sec *Section, choice baselineChoice) []string {
	subjects, bases, _ := pairs(sec, choice)
	var out []string
	for i := range subjects {
		out = append(out, subjects[i].Label+" vs "+bases[i].Label)
	}
	return out
}

// TestBaselineRule: the baseline is the first --in set and, within a set,
// the system that ran first (the first --system given), never the first
// in alphabetical order; --baseline overrides either.
func TestBaselineRule(t *testing.T) {
	t.Parallel()
	oneSet := func() []*Run {
		// redis ran first (--system redis --system kafka), kafka sorts first.
		return []*Run{fakeRun("a", "kafka", 2, 1, 1, 100, 1), fakeRun("a", "redis", 1, 1, 1, 100, 1), fakeRun("a", "nats", 3, 1, 1, 100, 1)}
	}
	twoSets := func() []*Run {
		return []*Run{
			fakeRun("after", "kafka", 12, 1, 1, 100, 1), fakeRun("after", "redis", 11, 1, 1, 100, 1),
			fakeRun("before", "kafka", 2, 1, 1, 100, 1), fakeRun("before", "redis", 1, 1, 1, 100, 1),
		}
	}
	for _, tc := range []struct {
		name     string
		runs     []*Run
		sets     []string
		baseline string
		want     []string
	}{
		{"first system given", oneSet(), []string{"a"}, "", []string{"kafka vs redis", "nats vs redis"}},
		{"--baseline system", oneSet(), []string{"a"}, "kafka", []string{"redis vs kafka", "nats vs kafka"}},
		// A first system without figures is no baseline.
		{"first system failed", func() []*Run {
			rs := oneSet()
			rs[1].Status = results.StatusFailed
			return rs
		}(), []string{"a"}, "", []string{"redis vs kafka", "nats vs kafka"}},
		// Across sets each system is compared with itself in the first
		// --in set, which is "before" although "after" sorts first.
		{"first --in set", twoSets(), []string{"before", "after"}, "",
			[]string{"kafka [before] vs redis [before]", "redis [after] vs redis [before]", "kafka [after] vs kafka [before]"}},
		{"--baseline set", twoSets(), []string{"before", "after"}, "after",
			[]string{"redis [before] vs redis [after]", "kafka [before] vs kafka [after]", "kafka [after] vs redis [after]"}},
		{"--baseline series", twoSets(), []string{"before", "after"}, "kafka [after]",
			[]string{"redis [before] vs redis [after]", "kafka [before] vs kafka [after]", "redis [after] vs kafka [after]"}},
	} {
		sec := prepared(tc.runs, tc.sets...)
		choice, err := resolveBaseline(tc.baseline, tc.runs)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := pairLabels(sec, choice); !slices.Equal(got, tc.want) {
			t.Errorf("%s: pairs %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := resolveBaseline("kafak", oneSet()); !errors.Is(err, ErrBadBaseline) || !strings.Contains(err.Error(), "kafka, nats, redis") && !strings.Contains(err.Error(), "kafka, redis, nats") {
		t.Errorf("unknown baseline: %v, want ErrBadBaseline listing the systems", err)
	}
}

// TestNotComparable: latency ratios count only between series whose
// achieved publish rates are within 5 %; rate ratios always count.
func TestNotComparable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		rate       float64
		comparable bool
	}{
		{"rates 3% apart", 1030, true},
		{"rates 10% apart", 1100, false},
	} {
		var runs []*Run
		for i := 1; i <= 5; i++ {
			jitter := float64(i) * 0.5
			runs = append(runs, fakeRun("a", "base", 1, i, 5, 1000+jitter, 2+jitter/10), fakeRun("a", "subject", 2, i, 5, tc.rate+jitter, 4+jitter/10))
		}
		sec := prepared(runs, "a")
		cs := compareSeries(sec, sec.Runs[1], sec.Runs[0])
		for _, c := range cs {
			m, _ := results.MetricByName(c.Metric)
			want := tc.comparable || !m.Latency
			if c.Comparable != want {
				t.Errorf("%s: %s comparable = %v (%s), want %v", tc.name, c.Metric, c.Comparable, c.Note, want)
			}
			if c.N1 != 5 || c.N2 != 5 {
				t.Errorf("%s: %s n = %d+%d, want 5+5", tc.name, c.Metric, c.N1, c.N2)
			}
		}
		p50 := cs[slices.IndexFunc(cs, func(c Comparison) bool { return c.Metric == "publishP50" })]
		if !p50.Significant || p50.Low > 2 || p50.High < 2 {
			t.Errorf("%s: p50 ratio %+v, want significant around 2", tc.name, p50)
		}
		if cell := p50.cell(); tc.comparable != !strings.HasPrefix(cell, "n/c") {
			t.Errorf("%s: cell %q", tc.name, cell)
		}
	}
}

// TestCellFormat: the verdict is readable in every table cell.
func TestCellFormat(t *testing.T) {
	t.Parallel()
	c := Comparison{Comparable: true}
	for _, tc := range []struct {
		set  func(c *Comparison)
		want string
	}{
		{func(c *Comparison) { c.Ratio.Ratio, c.Low, c.High, c.Bounded, c.Significant = 2, 1.9, 2.1, true, true }, "2.00x [1.90-2.10]"},
		{func(c *Comparison) { c.Ratio.Ratio, c.P, c.Bounded, c.Significant = 1.01, 0.4, true, false }, "~ 1.01x (p=0.40)"},
		{func(c *Comparison) { c.Ratio.Ratio, c.N1, c.N2, c.Bounded, c.Significant = 1.97, 1, 1, false, false }, "~ 1.97x (n=1+1: too few)"},
		{func(c *Comparison) { c.Comparable, c.N1, c.N2, c.Ratio.Ratio = false, 5, 5, 2304.67 }, "n/c (2304.67x)"},
	} {
		x := c
		tc.set(&x)
		if got := x.cell(); got != tc.want {
			t.Errorf("cell = %q, want %q", got, tc.want)
		}
	}
}

// TestSectionsKeepRepetitions: a section draws one run per series and
// keeps every repetition for tables and error bars, in sweep sections per
// sweep point.
func TestSectionsKeepRepetitions(t *testing.T) {
	t.Parallel()
	var runs []*Run
	for _, parts := range []int{1, 2} {
		for rep := 1; rep <= 3; rep++ {
			r := fakeRun("a", "refbroker", 1, rep, 3, 1000*float64(parts), 1)
			r.Workload = fmt.Sprintf("tpp[partitionsPerTopic=%d]", parts)
			r.Scenario, r.Partitions, r.MessageSize = "tpp", parts, 1000
			r.Report, r.Sweep = []string{"per-partition"}, map[string]string{"partitionsPerTopic": fmt.Sprint(parts)}
			runs = append(runs, r)
		}
	}
	sortRuns(runs, []string{"a"})
	nameRuns(runs, false)
	secs := sections(runs)
	if len(secs) != 3 || !secs[2].sweep {
		t.Fatalf("%d sections, want two points and the sweep", len(secs))
	}
	for _, sec := range secs {
		if len(sec.Runs) != len(sec.Reps) || len(sec.Runs) == 0 {
			t.Fatalf("%s: %d runs drawn, %d series of repetitions", sec.Name, len(sec.Runs), len(sec.Reps))
		}
		for k, reps := range sec.Reps {
			if len(reps) != 3 {
				t.Errorf("%s %q: %d repetitions, want 3", sec.Name, k, len(reps))
			}
		}
		if _, err := sectionCharts(sec, newPalette(runs)); err != nil {
			t.Fatalf("%s: %v", sec.Name, err)
		}
	}
}

// TestComparisonJSON: comparison.json carries, for each (metric, subject,
// baseline), the fields docs/reports.md promises.
func TestComparisonJSON(t *testing.T) {
	t.Parallel()
	var runs []*Run
	for i := 1; i <= 5; i++ {
		runs = append(runs, fakeRun("a", "base", 1, i, 5, 1000+float64(i), 2), fakeRun("a", "fast", 2, i, 5, 2000+float64(i), 2))
	}
	sec := prepared(runs, "a")
	cs, tables := comparisons([]*Section{sec}, baselineChoice{})
	if len(tables) != 1 || len(cs) != len(results.HeadlineMetrics) {
		t.Fatalf("%d tables, %d comparisons", len(tables), len(cs))
	}
	path := filepath.Join(t.TempDir(), "comparison.json")
	if err := writeComparisons(path, cs); err != nil {
		t.Fatal(err)
	}
	var file struct {
		Confidence, Alpha, RateTolerance float64
		Comparisons                      []map[string]any
	}
	if err := json.Unmarshal(readFile(t, path), &file); err != nil {
		t.Fatal(err)
	}
	if file.Confidence != 0.95 || file.Alpha != 0.05 || file.RateTolerance != 0.05 {
		t.Errorf("header %+v", file)
	}
	c := file.Comparisons[0]
	for _, k := range []string{"workload", "metric", "subject", "baseline", "ratio", "low", "high", "bounded", "p", "significant", "n1", "n2", "comparable"} {
		if _, ok := c[k]; !ok {
			t.Errorf("comparison lacks %q: %v", k, c)
		}
	}
	if c["metric"] != "publishRate" || c["subject"] != "fast" || c["baseline"] != "base" || c["significant"] != true || c["comparable"] != true {
		t.Errorf("first comparison %v, want publishRate of fast against base, significant and comparable", c)
	}
	// Equal latencies at rates 2x apart: not comparable, whatever the test says.
	for _, x := range file.Comparisons {
		if strings.HasPrefix(x["metric"].(string), "publishP") && (x["comparable"] != false || x["note"] == nil) {
			t.Errorf("latency comparison %v at rates 2x apart, want not comparable with a note", x)
		}
	}
	if r := c["ratio"].(float64); r < 1.99 || r > 2.01 || c["low"].(float64) > r || c["high"].(float64) < r {
		t.Errorf("ratio %v [%v, %v], want about 2 inside its interval", r, c["low"], c["high"])
	}
}
