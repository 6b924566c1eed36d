package reports

import (
	"slices"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/results"
)

func TestVerdict(t *testing.T) {
	t.Parallel()
	clean := results.Counts{Drained: true}
	tests := []struct {
		name    string
		status  results.Status
		counts  results.Counts
		verdict *results.Verdict
		want    string
	}{
		{"clean", results.StatusOK, clean, nil, "ok"},
		{"duplicates only", results.StatusOK, results.Counts{Drained: true, Duplicates: 3}, nil, "ok (dups)"},
		{"lost", results.StatusOK, results.Counts{Drained: true, Lost: 1}, nil, "ANOMALIES"},
		{"reordered", results.StatusOK, results.Counts{Drained: true, OutOfOrder: 1, OrderPromised: true}, nil, "ANOMALIES"},
		// Competing consumers promise no order: a measurement, not an anomaly.
		{"reordered without promise", results.StatusOK, results.Counts{Drained: true, OutOfOrder: 1}, nil, "ok"},
		{"not drained", results.StatusOK, results.Counts{}, nil, "NOT DRAINED"},
		{"failed run", results.StatusFailed, clean, nil, "failed"},
		{"not applicable", results.StatusNotApplicable, clean, nil, "not-applicable"},
		{"history valid", results.StatusOK, clean, &results.Verdict{Valid: "valid"}, "ok"},
		{"history invalid", results.StatusOK, clean, &results.Verdict{Valid: "invalid", Failures: []string{"lost-write", "stale-read"}}, "INVALID: lost-write,stale-read"},
		// unknown is never a pass, even with clean counts.
		{"history unknown", results.StatusOK, clean, &results.Verdict{Valid: "unknown"}, "UNKNOWN (history check inconclusive)"},
		{"history garbage", results.StatusOK, clean, &results.Verdict{Valid: ""}, "UNKNOWN (history check inconclusive)"},
	}
	for _, tt := range tests {
		r := &Run{Result: &results.Result{Status: tt.status, Counts: tt.counts, Verdict: tt.verdict}}
		if got := verdict(r); got != tt.want {
			t.Errorf("%s: verdict = %q, want %q", tt.name, got, tt.want)
		}
		if passed(verdict(r)) != (tt.want == "ok" || tt.want == "ok (dups)") {
			t.Errorf("%s: passed(%q) wrong", tt.name, verdict(r))
		}
	}
}

func TestChecksIncludeHistoryAnomalies(t *testing.T) {
	t.Parallel()
	r := &Run{Dir: "res", Result: &results.Result{Status: results.StatusOK, Counts: results.Counts{Lost: 2},
		Verdict: &results.Verdict{Valid: "invalid", Anomalies: map[string]int{"stale-read": 1, "lost-write": 4},
			Visualizations: []string{"smoke.p0.html"}}}}
	var names []string
	for _, c := range checks(r) {
		names = append(names, c.Name)
	}
	want := []string{"lost", "duplicates", "out of order", "unexpected", "failed sends", "history: lost-write", "history: stale-read"}
	if !slices.Equal(names, want) {
		t.Errorf("checks = %q, want %q", names, want)
	}
	if v := visualizations(r); len(v) != 1 || !strings.HasSuffix(v[0], "res/smoke.p0.html") {
		t.Errorf("visualizations = %q, want res/smoke.p0.html", v)
	}
	// The chart gets one category per check, across runs.
	sec := &Section{Name: "w", Runs: []*Run{r}}
	r.Label = "kafka"
	c, err := conformanceChart(sec, newPalette(sec.Runs))
	if err != nil || c == nil {
		t.Fatalf("conformanceChart: %v, %v", c, err)
	}
	if _, err := renderPNG(c); err != nil {
		t.Fatal(err)
	}
}
