package suite_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/capacity"
	"github.com/brokerbench/brokerbench/reports"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/stats"
	"github.com/brokerbench/brokerbench/suite"
	"github.com/brokerbench/brokerbench/workloads"
)

// searchWorkload is a short search swept over partitions, with an
// objective loose enough to be met on a busy 2-core machine: 200 and
// 400 msg/s (the ceiling) and a confirmation per point.
const searchWorkload = `workloads:
  - name: capacity-test
    partitionsPerTopic: [1, 2, 4]
    maxRate:
      latency: {percentile: 99, below: 2s}
      start: 200
      max: 400
      probe: 500ms
      warmup: 200ms
      budget: 20s
    report: [throughput]
`

// TestSearchOnRealSystems runs a saturation search through the suite on
// the embedded refbroker and, where they run, the local Redis and
// RabbitMQ, then checks the search record in the written result and
// plans from it.
func TestSearchOnRealSystems(t *testing.T) {
	t.Parallel()
	for _, sys := range []struct{ name, addr string }{{"refbroker", ""}, {"redis", "127.0.0.1:6379"}, {"rabbitmq", "127.0.0.1:5672"}} {
		t.Run(sys.name, func(t *testing.T) {
			t.Parallel()
			if sys.addr != "" {
				adaptertest.RequireService(t, sys.name, sys.addr)
			}
			file, err := workloads.Parse("search.yaml", []byte(searchWorkload))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			out, err := suite.Run(t.Context(), suite.Config{Workloads: file.Workloads, Systems: []string{sys.name}, Out: dir})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Results) != 3 {
				t.Fatalf("%d results, want one per partition count", len(out.Results))
			}
			var rs []*results.Result
			for _, n := range []string{"1", "2", "4"} {
				res, err := results.Read(filepath.Join(dir, results.FileName("capacity-test[partitionsPerTopic="+n+"]", sys.name)))
				if err != nil {
					t.Fatal(err)
				}
				checkSearch(t, res, 20*time.Second)
				rs = append(rs, res)
			}
			checkPlans(t, rs)
		})
	}
}

// checkSearch checks a search record against what it claims: verdicts
// agree with their reasons, a found rate passed its confirmation, and the
// search kept to its budget (plus at most one probe).
func checkSearch(t *testing.T, res *results.Result, budget time.Duration) {
	t.Helper()
	rec := res.Capacity
	if rec == nil || len(rec.Repetitions) != 1 {
		t.Fatalf("result has no search record of one repetition: %+v", rec)
	}
	run := rec.Repetitions[0]
	if len(run.Probes) < 2 {
		t.Fatalf("%d probes, want a ramp and a confirmation", len(run.Probes))
	}
	longest := 0.0
	for _, p := range run.Probes {
		longest = math.Max(longest, p.Wall)
		if p.Passed() != (len(p.Reasons) == 0) {
			t.Errorf("probe at %.0f: verdict %s with reasons %v", p.Offered, p.Verdict, p.Reasons)
		}
		if p.Passed() && (p.Achieved < 0.99*p.Offered || !(p.AtObjective < rec.Objective.BelowMs) || p.P50 <= 0) {
			t.Errorf("passing probe at %.0f msg/s: achieved %.0f, p%v %.2f ms, p50 %.2f ms", p.Offered, p.Achieved, rec.Objective.Percentile, p.AtObjective, p.P50)
		}
	}
	if run.Seconds > (budget + time.Duration(longest*float64(time.Second))).Seconds() {
		t.Errorf("search took %.1fs; budget %v plus the longest probe %.1fs", run.Seconds, budget, longest)
	}
	if run.Confirmed {
		last := run.Probes[len(run.Probes)-1]
		if !run.Confirmed || last.Phase != capacity.PhaseConfirm || !last.Passed() || last.Offered != run.Found {
			t.Errorf("found %.0f msg/s, confirmed %v, last probe %+v", run.Found, run.Confirmed, last)
		}
		if rec.Found.N != 1 || rec.Found.Mean != run.Found {
			t.Errorf("found summary %+v for one repetition finding %.0f", rec.Found, run.Found)
		}
		if !res.OKApartFromGenerator() {
			t.Errorf("status %s (%s) for a confirmed search", res.Status, res.Explain())
		}
	} else {
		// A busy machine may fail every confirmation; the record must say so.
		if rec.Found.N != 0 || len(run.Notes) == 0 {
			t.Errorf("unconfirmed search: found summary %+v, notes %v", rec.Found, run.Notes)
		}
		t.Logf("no rate confirmed on this machine now: %v", run.Notes)
	}
}

// checkPlans plans from the sweep's results: the sweep is fitted, a
// target above the measured ceiling is never feasible, and one well below
// it is.
func checkPlans(t *testing.T, rs []*results.Result) {
	t.Helper()
	var found stats.Summary
	confirmed := 0
	for _, r := range rs {
		if f := r.Capacity.Found; f.N == len(r.Capacity.Repetitions) {
			confirmed++
			if f.Mean > found.Mean {
				found = f
			}
		}
	}
	if found.N == 0 {
		return
	}
	for _, tt := range []struct {
		target   float64
		feasible bool
	}{{found.Mean * 1.01, false}, {found.Mean * 10, false}, {found.Low * 0.5, true}} {
		q := reports.PlanRequest{Target: reports.Throughput{Value: tt.target, Unit: reports.UnitMessages, Text: "test"}, Headroom: 0.3}
		p, err := reports.PlanFromResults(rs, q)
		if err != nil {
			t.Fatal(err)
		}
		if s := p.Systems[0]; confirmed == len(rs) && s.FittedMax == nil {
			t.Errorf("no USL fit from a sweep of %d confirmed searches: %v", confirmed, s.Reasons)
		} else if tt.feasible {
			t.Logf("plan: %s", strings.Join(s.Reasons, "; "))
		}
		if p.Feasible() != tt.feasible {
			t.Errorf("target %.0f msg/s against a found %.0f: feasible %v, want %v\n%v", tt.target, found.Mean, p.Feasible(), tt.feasible, p.Systems[0].Reasons)
		}
	}
}
