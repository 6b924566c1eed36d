package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/capacity"
	"github.com/brokerbench/brokerbench/results"
)

func TestParseThroughput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want float64
		unit Unit
		err  bool
	}{
		{in: "500MB/s", want: 500e6, unit: UnitBytes},             // decimal megabytes, as result files
		{in: "500 MiB/s", want: 500 * (1 << 20), unit: UnitBytes}, // binary, with a space
		{in: "1.5GB/s", want: 1.5e9, unit: UnitBytes},
		{in: "64KiB/s", want: 64 << 10, unit: UnitBytes},
		{in: "200000msg/s", want: 200000, unit: UnitMessages},
		{in: "20k msg/s", want: 20000, unit: UnitMessages}, // k multiplier
		{in: "1M msg/s", want: 1e6, unit: UnitMessages},
		{in: "500MB", err: true},    // no per-second unit
		{in: "MB/s", err: true},     // no number
		{in: "-5MB/s", err: true},   // negative
		{in: "0msg/s", err: true},   // zero
		{in: "5 apples", err: true}, // unknown unit
		{in: "500Mb/s", err: true},  // megabits, not megabytes: refused rather than read 8x too high
		{in: "", err: true},
	}
	for _, tt := range tests {
		got, err := ParseThroughput(tt.in)
		if tt.err {
			if !errors.Is(err, ErrBadThroughput) {
				t.Errorf("ParseThroughput(%q) error = %v, want ErrBadThroughput", tt.in, err)
			}
			continue
		}
		if err != nil || got.Value != tt.want || got.Unit != tt.unit {
			t.Errorf("ParseThroughput(%q) = %+v, %v; want %v unit %v", tt.in, got, err, tt.want, tt.unit)
		}
	}
}

// searchPoint is a capacity-partitions result at n partitions whose
// search found the given rates (msg/s) in its repetitions, 1000-byte
// messages, p99 end-to-end < 50ms.
func searchPoint(driver string, n int, found ...float64) *results.Result {
	o := capacity.Objective{Percentile: 99, BelowMs: 50}
	o.Default()
	var reps []capacity.SearchRun
	for _, f := range found {
		reps = append(reps, capacity.SearchRun{Found: f, Confirmed: true, Low: f, Stop: capacity.StopConverged,
			Probes: []capacity.Probe{{Phase: capacity.PhaseConfirm, Offered: f, Achieved: f, P50: 2, P99: 20, AtObjective: 20, Verdict: capacity.Pass}}})
	}
	name := "capacity-partitions[partitionsPerTopic=" + strconv.Itoa(n) + "]"
	return &results.Result{Status: results.StatusOK, Workload: name, Scenario: "capacity-partitions", Driver: driver,
		Partitions: n, ProducersPerTopic: 2, ConsumersPerTopic: 2, MessageSize: 1000,
		Sweep:    map[string]string{"partitionsPerTopic": strconv.Itoa(n)},
		Capacity: capacity.NewRecord(o, capacity.SearchConfig{}, 0, 0, 0, reps)}
}

// hotKeys is a hot-keys result over 8 partitions where partition 0 has
// hot times the rate of each other partition.
func hotKeys(driver string, hot float64) *results.Result {
	r := &results.Result{Status: results.StatusOK, Workload: "hot-keys[HOT]", Driver: driver, Partitions: 8, MessageSize: 1000, Report: []string{"skew"}}
	for i := range 8 {
		rate := 100.0
		if i == 0 {
			rate *= hot
		}
		r.PartitionsDetail = append(r.PartitionsDetail, results.Partition{Partition: int32(i), Rate: rate})
	}
	return r
}

func mustTP(t *testing.T, s string) Throughput {
	t.Helper()
	tp, err := ParseThroughput(s)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// sweep found about 10k, 19k, 30k and 24k msg/s at 1, 2, 4 and 8
// partitions, three repetitions each.
func sweep(driver string) []*results.Result {
	return []*results.Result{
		searchPoint(driver, 1, 9800, 10000, 10200), searchPoint(driver, 2, 18800, 19000, 19200),
		searchPoint(driver, 4, 29500, 30000, 30500), searchPoint(driver, 8, 23500, 24000, 24500),
	}
}

func TestPlanFromResults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		rs         []*results.Result
		req        PlanRequest
		feasible   bool
		partitions int
		binding    string
	}{
		// 10 MB/s of 1000 B messages = 10,000 msg/s: 2 partitions (18,8xx x 0.7 >= 10,000).
		{name: "within the ceiling", rs: sweep("kafka"), req: PlanRequest{Target: mustTP(t, "10MB/s"), Headroom: 0.3}, feasible: true, partitions: 2, binding: capacity.BindPartitionRate},
		// 500 MB/s is far above 30,000 msg/s x 1000 B: never feasible.
		{name: "above the ceiling", rs: sweep("kafka"), req: PlanRequest{Target: mustTP(t, "500MB/s"), Headroom: 0.3}, binding: capacity.BindNodeCeiling},
		{name: "above, extrapolated", rs: sweep("kafka"), req: PlanRequest{Target: mustTP(t, "500MB/s"), Headroom: 0.3, Extrapolate: true}, binding: capacity.BindNodeCeiling},
		// A hot-keys run with skew 6.6 over 8 partitions: 80% on one key, 8000 msg/s on one partition.
		{name: "hot key from a run", rs: append(sweep("kafka"), hotKeys("kafka", 6.6*7/(8-6.6))), req: PlanRequest{Target: mustTP(t, "10000msg/s"), Headroom: 0.3}, binding: capacity.BindHotKey},
	}
	for _, tt := range tests {
		p, err := PlanFromResults(tt.rs, tt.req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		s := p.Systems[0]
		if s.Feasible != tt.feasible || p.Feasible() != tt.feasible || s.Partitions != tt.partitions || s.Binding != tt.binding {
			t.Errorf("%s: feasible %v partitions %d binding %q; want %v %d %q\n%s", tt.name, s.Feasible, s.Partitions, s.Binding,
				tt.feasible, tt.partitions, tt.binding, strings.Join(s.Reasons, "\n"))
		}
		if s.FittedMax == nil {
			t.Errorf("%s: no fitted X_max from a 4-point sweep", tt.name)
		}
		var text, js bytes.Buffer
		if err := p.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		if !tt.feasible && !strings.Contains(text.String(), "NOT REACHABLE with the measured setup") {
			t.Errorf("%s: text does not say the target is not reachable:\n%s", tt.name, text.String())
		}
		if err := p.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		if err := json.Unmarshal(js.Bytes(), &out); err != nil {
			t.Fatalf("%s: plan --json is not JSON: %v\n%s", tt.name, err, js.String())
		}
		for _, k := range []string{"system", "target", "measuredCeiling", "fittedMax", "saturatedAt", "partitions", "nodes", "feasible", "extrapolated", "binding", "reasons"} {
			if _, ok := out[0][k]; !ok {
				t.Errorf("%s: JSON lacks %q", tt.name, k)
			}
		}
	}
}

func TestPlanErrors(t *testing.T) {
	t.Parallel()
	rs := sweep("kafka")
	tests := []struct {
		name string
		rs   []*results.Result
		req  PlanRequest
		want error
	}{
		{"no target", rs, PlanRequest{}, ErrBadPlan},
		{"headroom 1", rs, PlanRequest{Target: mustTP(t, "1MB/s"), Headroom: 1}, ErrBadPlan},
		{"negative headroom", rs, PlanRequest{Target: mustTP(t, "1MB/s"), Headroom: -0.1}, ErrBadPlan},
		{"negative consumers", rs, PlanRequest{Target: mustTP(t, "1MB/s"), Consumers: -1}, ErrBadPlan},
		{"top key share 1", rs, PlanRequest{Target: mustTP(t, "1MB/s"), TopKeyShare: 1}, ErrBadPlan},
		{"no capacity search", []*results.Result{hotKeys("kafka", 2)}, PlanRequest{Target: mustTP(t, "1MB/s")}, ErrNoCapacity},
	}
	for _, tt := range tests {
		if _, err := PlanFromResults(tt.rs, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.want)
		}
	}
}
