package reports

import (
	"errors"
	"strings"
	"testing"

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

// sweepPoint is a throughput-per-partition result with n partitions each
// measured at perPart msg/s with 1000-byte messages.
func sweepPoint(driver string, n int, perPart float64) *results.Result {
	r := &results.Result{Status: results.StatusOK, Workload: "tpp", Scenario: "tpp", Driver: driver,
		Partitions: n, MessageSize: 1000, Report: []string{"per-partition"}, Sweep: map[string]string{"partitionsPerTopic": itoa(int64(n))}}
	for i := range n {
		r.PartitionsDetail = append(r.PartitionsDetail, results.Partition{Partition: int32(i), Rate: perPart})
	}
	r.Samples = []results.Sample{{PublishRate: perPart * float64(n), PublishMBps: perPart * float64(n) * 1000 / 1e6}}
	return r
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

func TestPlan(t *testing.T) {
	t.Parallel()
	// 10 MB/s per partition at 1 and 2 partitions, 8 MB/s at 4: the plan
	// uses 8 MB/s, the lowest.
	sweep := []*results.Result{sweepPoint("kafka", 1, 10000), sweepPoint("kafka", 2, 10000), sweepPoint("kafka", 4, 8000)}
	tests := []struct {
		name      string
		rs        []*results.Result
		req       PlanRequest
		want      int
		warnings  []string // substrings, one per expected warning
		reasoning string   // a substring of the reasoning
	}{
		{
			// 100 MB/s / (8 MB/s x 0.7) = 17.86 -> 18.
			name: "headroom", rs: sweep, req: PlanRequest{Target: mustTP(t, "100MB/s"), Headroom: 0.3},
			want: 18, warnings: []string{"beyond the largest measured count (4)", "best measured total"},
			reasoning: "ceil(100.00 MB/s / 5.60 MB/s) = 18",
		},
		{
			// No headroom: 100 / 8 = 12.5 -> 13.
			name: "no headroom", rs: sweep, req: PlanRequest{Target: mustTP(t, "100MB/s")},
			want: 13, warnings: []string{"beyond", "best measured total"},
		},
		{
			// 20 MB/s needs 4 by throughput (20/5.6 = 3.57) but 12
			// consumers need 12 partitions.
			name: "consumer floor", rs: sweep, req: PlanRequest{Target: mustTP(t, "20MB/s"), Consumers: 12, Headroom: 0.3},
			want: 12, warnings: []string{"beyond"}, reasoning: "max(4, 12) = 12",
		},
		{
			// Exactly at capacity: 5.6 MB/s fits one partition.
			name: "exact fit", rs: sweep, req: PlanRequest{Target: mustTP(t, "5.6MB/s"), Headroom: 0.3},
			want: 1,
		},
		{
			// msg/s compared as msg/s: 20000 / (8000 x 0.5) = 5.
			name: "msg/s", rs: sweep, req: PlanRequest{Target: mustTP(t, "20000msg/s"), Headroom: 0.5},
			want: 5, warnings: []string{"beyond"}, reasoning: "4000 msg/s",
		},
		{
			// msg/s with a size: 10000 x 500 B = 5 MB/s / 5.6 MB/s -> 1.
			name: "msg/s with size", rs: sweep, req: PlanRequest{Target: mustTP(t, "10000msg/s"), MessageSize: 500, Headroom: 0.3},
			want: 1, reasoning: "x 500 B = 5.00 MB/s",
		},
		{
			// Partition 0 at 29x the others: skew 29/4.5 = 6.4 over 8,
			// a key share of (6.4-1)/7 = 78%; at 20 MB/s the key alone
			// needs 15.6 MB/s, above 5.6 MB/s.
			name: "hot key cannot be split", rs: append([]*results.Result{hotKeys("kafka", 29)}, sweep...),
			req:  PlanRequest{Target: mustTP(t, "20MB/s"), Headroom: 0.3},
			want: 4, warnings: []string{"more partitions cannot fix this"},
		},
		{
			// Mild skew: the key fits, but its partition needs more
			// partitions to spread the rest.
			name: "mild skew", rs: append([]*results.Result{hotKeys("kafka", 3)}, sweep...),
			req:  PlanRequest{Target: mustTP(t, "20MB/s"), Headroom: 0.3},
			want: 4, warnings: []string{"partitions would keep it within capacity"},
		},
		{
			// Skew below 1.5 is sampling noise: no warning.
			name: "even keys", rs: append([]*results.Result{hotKeys("kafka", 1.3)}, sweep...),
			req:  PlanRequest{Target: mustTP(t, "20MB/s"), Headroom: 0.3},
			want: 4,
		},
		{
			// Another system's hot keys do not warn this one.
			name: "other system's skew", rs: append([]*results.Result{hotKeys("redis", 29)}, sweep...),
			req:  PlanRequest{Target: mustTP(t, "20MB/s"), Headroom: 0.3},
			want: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := PlanFromResults(tt.rs, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Systems) != 1 {
				t.Fatalf("plans for %d systems, want 1 (kafka)", len(p.Systems))
			}
			s := p.Systems[0]
			if s.Partitions != tt.want {
				t.Errorf("partitions = %d, want %d\n%s", s.Partitions, tt.want, strings.Join(s.Reasoning, "\n"))
			}
			if len(s.Warnings) != len(tt.warnings) {
				t.Errorf("warnings = %q, want %d matching %q", s.Warnings, len(tt.warnings), tt.warnings)
			}
			for i, w := range tt.warnings {
				if i < len(s.Warnings) && !strings.Contains(s.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to mention %q", i, s.Warnings[i], w)
				}
			}
			var b strings.Builder
			if err := p.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tt.reasoning) {
				t.Errorf("plan text lacks %q:\n%s", tt.reasoning, b.String())
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	t.Parallel()
	sweep := []*results.Result{sweepPoint("kafka", 1, 1000)}
	tests := []struct {
		name string
		rs   []*results.Result
		req  PlanRequest
		want error
	}{
		{"no target", sweep, PlanRequest{}, ErrBadPlan},
		{"headroom 1", sweep, PlanRequest{Target: mustTP(t, "1MB/s"), Headroom: 1}, ErrBadPlan},
		{"negative headroom", sweep, PlanRequest{Target: mustTP(t, "1MB/s"), Headroom: -0.1}, ErrBadPlan},
		{"negative consumers", sweep, PlanRequest{Target: mustTP(t, "1MB/s"), Consumers: -1}, ErrBadPlan},
		{"size with bytes", sweep, PlanRequest{Target: mustTP(t, "1MB/s"), MessageSize: 100}, ErrBadPlan},
		{"no sweep", []*results.Result{hotKeys("kafka", 2)}, PlanRequest{Target: mustTP(t, "1MB/s")}, ErrNoSweep},
	}
	for _, tt := range tests {
		if _, err := PlanFromResults(tt.rs, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.want)
		}
	}
}
