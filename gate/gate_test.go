package gate

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/results"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		metric, expr string
		want         string // rendered threshold, or error substring after "!"
	}{
		{"lost", "== 0", "lost == 0"},
		{"aggregatedPublishLatency99pct", "<50", "aggregatedPublishLatency99pct < 50"},
		{"publishRate", " >= 1e4 ", "publishRate >= 10000"},
		{"lost", "0", "!want an operator"},
		{"lost", "< fifty", "!want a number"},
		{"lsot", "== 0", "!unknown metric \"lsot\""},
		{"aggregatedpublishlatency99pct", "< 5", "!did you mean \"aggregatedPublishLatency99pct\""},
	}
	for _, tt := range tests {
		got, err := Parse(tt.metric, tt.expr)
		if want, isErr := strings.CutPrefix(tt.want, "!"); isErr {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Parse(%q, %q) = %v, %v; want error with %q", tt.metric, tt.expr, got, err, want)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("Parse(%q, %q) = %q, %v; want %q", tt.metric, tt.expr, got, err, tt.want)
		}
	}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	ok := &results.Result{Status: results.StatusOK, Workload: "w", Driver: "refbroker",
		Counts:                        results.Counts{Lost: 0, Duplicates: 3},
		AggregatedPublishLatency99pct: 12,
		Samples:                       []results.Sample{{PublishRate: 20000}},
	}
	ok.Latency.PublishFromSend.Count = 100
	ts, err := ParseAll(map[string]string{"lost": "== 0", "duplicates": "== 0", "aggregatedPublishLatency99pct": "< 50", "publishRate": "> 10000", "aggregatedEndToEndLatency99pct": "< 5"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Outcome{}
	for _, c := range Evaluate(ok, ts, Policy{}) {
		got[c.Name] = c.Outcome
	}
	want := map[string]Outcome{
		"run": Passed, "threshold lost == 0": Passed, "threshold duplicates == 0": Failed,
		"threshold aggregatedPublishLatency99pct < 50": Passed, "threshold publishRate > 10000": Passed,
		// No end-to-end latency was measured: unknown, never a pass.
		"threshold aggregatedEndToEndLatency99pct < 5": Unknown,
	}
	for name, o := range want {
		if got[name] != o {
			t.Errorf("%s: %s, want %s", name, got[name], o)
		}
	}

	// Rates of a run without a measured sample (only warm-up and drain
	// samples) were not measured: unknown, not a rate of 0.
	unmeasured := &results.Result{Status: results.StatusOK, Workload: "w", Driver: "refbroker",
		Samples: []results.Sample{{Warmup: true, PublishRate: 500}, {Phase: results.PhaseDrain, PublishRate: 300}}}
	rates, err := ParseAll(map[string]string{"publishRate": "< 100", "consumeRate": "> 100", "publishMBps": "> 1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Evaluate(unmeasured, rates, Policy{}) {
		if c.Name != "run" && (c.Outcome != Unknown || !strings.Contains(c.Message, "not measured")) {
			t.Errorf("unmeasured rates: %s is %s (%s), want unknown", c.Name, c.Outcome, c.Message)
		}
	}

	na := &results.Result{Status: results.StatusNotApplicable, Error: "not applicable: static membership", Workload: "w", Driver: "redis"}
	for _, c := range Evaluate(na, ts, Policy{}) {
		if c.Outcome != Skipped {
			t.Errorf("not-applicable run: %s is %s", c.Name, c.Outcome)
		}
	}
	failed := &results.Result{Status: results.StatusFailed, Error: "boom", Workload: "w", Driver: "kafka"}
	if Pass(Evaluate(failed, nil, Policy{})) {
		t.Error("a failed run passed the gate")
	}
}

func TestWriteJUnit(t *testing.T) {
	t.Parallel()
	checks := []Check{
		{Workload: "smoke", System: "refbroker", Name: "run", Outcome: Passed},
		{Workload: "smoke", System: "refbroker", Name: "threshold lost == 0", Outcome: Failed, Message: "lost = 3 messages, want == 0"},
		{Workload: "smoke", System: "redis", Name: "run", Outcome: Skipped, Message: "not applicable"},
		{Workload: "storm", System: "kafka", Name: "checker log", Outcome: Unknown, Message: "porcupine timed out"},
	}
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, checks); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("invalid XML: %v\n%s", err, buf.String())
	}
	if doc.Tests != 4 || doc.Failures != 2 || doc.Skipped != 1 || len(doc.Suites) != 2 {
		t.Errorf("tests %d failures %d skipped %d suites %d", doc.Tests, doc.Failures, doc.Skipped, len(doc.Suites))
	}
	if c := doc.Suites[0].Cases[1]; c.Classname != "smoke.refbroker" || c.Failure == nil || !strings.Contains(c.Failure.Message, "lost = 3") {
		t.Errorf("failure case: %+v", c)
	}
}

// TestEvaluateStatus: the run check per status and policy.
func TestEvaluateStatus(t *testing.T) {
	t.Parallel()
	degradedReasons := []results.Reason{{Code: results.ReasonRateBelowOffered, Message: "achieved 2300 msg/s of 5000"}}
	tests := []struct {
		status results.Status
		allow  bool
		want   Outcome
	}{
		{results.StatusOK, false, Passed},
		{results.StatusFailed, false, Failed},
		// allow-degraded never lets a failed run through.
		{results.StatusFailed, true, Failed},
		{results.StatusDegraded, false, Failed},
		{results.StatusDegraded, true, Passed},
		{results.StatusInterrupted, true, Failed},
		{results.StatusNotApplicable, false, Skipped},
	}
	for _, tt := range tests {
		r := &results.Result{Status: tt.status, Workload: "w", Driver: "rabbitmq", StatusReasons: degradedReasons}
		c := Evaluate(r, nil, Policy{AllowDegraded: tt.allow})[0]
		if c.Outcome != tt.want {
			t.Errorf("%s (allow degraded %t): %s, want %s", tt.status, tt.allow, c.Outcome, tt.want)
		}
		if tt.status == results.StatusDegraded && !strings.Contains(c.Message, "rate-below-offered") {
			t.Errorf("degraded run check does not name its reason: %q", c.Message)
		}
	}
}
