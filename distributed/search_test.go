package distributed

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/capacity"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/suite"
	"github.com/brokerbench/brokerbench/suite/systems"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// searchYAML is a short search (three probes of 500ms: 300, 600 msg/s
// and the confirmation) with an objective a busy 2-core machine meets.
const searchYAML = `workloads:
  - name: search
    partitionsPerTopic: 3
    producersPerTopic: 3
    consumerPerSubscription: 3
    messageSize: 128
    maxRate:
      latency: {percentile: 99, below: 2s}
      start: 300
      max: 600
      probe: 500ms
      warmup: 200ms
      budget: 30s
`

// probeRecorder keeps every probe result a worker handed the coordinator
// (GET /probe), in order.
type probeRecorder struct {
	next http.Handler
	mu   sync.Mutex
	got  []*results.Result
}

func (p *probeRecorder) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/probe" {
		p.next.ServeHTTP(rw, r)
		return
	}
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, r)
	var res *results.Result
	if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &res) == nil && res != nil {
		p.mu.Lock()
		p.got = append(p.got, res)
		p.mu.Unlock()
	}
	for k, v := range rec.Header() {
		rw.Header()[k] = v
	}
	rw.WriteHeader(rec.Code)
	_, _ = rw.Write(rec.Body.Bytes())
}

// TestShardedSearchInProcess runs a saturation search as three shards in
// this process against one refbroker (the suite of each shard following
// the coordinator's search), records every probe result each shard hands
// over, and checks that the search record is made of the merged shards:
// each probe's offered and achieved rates are those of the shards' merged
// probe, whose sent and received counts are the shards' sums, and the
// found rate is the one the merged probes justify. The shards' written
// results merge into the search's result.
func TestShardedSearchInProcess(t *testing.T) {
	b := startRefbroker(t)
	file, err := workloads.Parse("w.yaml", []byte(searchYAML))
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	recs := make([]*probeRecorder, n)
	var urls []string
	var ws []*Worker
	for i := range n {
		w := NewWorker(t.Context(), workloads.Segment{Index: i, Count: n})
		recs[i] = &probeRecorder{next: w.Handler()}
		srv := httptest.NewServer(recs[i])
		t.Cleanup(srv.Close)
		ws, urls = append(ws, w), append(urls, srv.URL)
	}
	quiet := slog.New(slog.DiscardHandler)
	var wg sync.WaitGroup
	for i, wk := range ws {
		wg.Go(func() {
			out, err := suite.Run(wk.Context(), suite.Config{
				Workloads: file.Workloads, Systems: []string{"refbroker"}, Out: t.TempDir(), Logger: quiet,
				Runner: []runner.Option{runner.Shard(runner.ShardConfig{Segment: workloads.Segment{Index: i, Count: n}, RunID: "srch", Barrier: wk})},
				Getenv: func(k string) string {
					if k == systems.RefbrokerAddrEnv {
						return b.Addr()
					}
					return ""
				},
				Shard: true, ShardSearch: wk.Searches("srch"),
			})
			var rs []*results.Result
			if out != nil {
				rs = out.Results
			}
			wk.Finish(rs, err)
		})
	}
	ctx := t.Context()
	c := &Coordinator{Workers: urls, StartDelay: 100 * time.Millisecond, Logger: quiet,
		Searches: &Searches{Workloads: file.Workloads, Limits: results.DefaultLimits()}}
	rs, err := c.Drive(ctx)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var located []Located
	for _, r := range rs {
		located = append(located, Located{Result: r})
	}
	merged, err := MergeAll(located, t.TempDir(), results.DefaultLimits())
	if err != nil || len(merged) != 1 || merged[0].Capacity == nil {
		t.Fatalf("merged %d results, %v; want one with a search record", len(merged), err)
	}
	res, rec := merged[0], merged[0].Capacity
	probes := rec.Probes()
	for i, r := range recs {
		if len(r.got) != len(probes) {
			t.Fatalf("shard %d handed over %d probe results, the record has %d probes", i, len(r.got), len(probes))
		}
	}
	var kept *results.Result
	for k, p := range probes {
		shards := []*results.Result{recs[0].got[k], recs[1].got[k], recs[2].got[k]}
		var sent, received int64
		var offered float64
		for i, s := range shards {
			if s.Counts.Sent == 0 {
				t.Errorf("probe %d: shard %d sent nothing: the probe's load was not split", k, i)
			}
			sent, received, offered = sent+s.Counts.Sent, received+s.Counts.Received, offered+s.OfferedRate
		}
		m, err := Merge(shards, results.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		achieved, _ := m.MeasuredPublishRate()
		if m.Counts.Sent != sent || m.Counts.Received != received {
			t.Errorf("probe %d: merged sent %d received %d, the shards' sums %d %d", k, m.Counts.Sent, m.Counts.Received, sent, received)
		}
		if !near(p.Offered, offered) || !near(p.Achieved, achieved) {
			t.Errorf("probe %d: recorded offered %v achieved %v, the merged shards' %v %v", k, p.Offered, p.Achieved, offered, achieved)
		}
		if p.Phase == capacity.PhaseConfirm && p.Passed() {
			kept = m
		}
		t.Logf("probe %d %s: offered %.0f achieved %.0f p99 %.1fms %s; shards sent %d, received %d", k, p.Phase, p.Offered, p.Achieved, p.P99, p.Verdict, sent, received)
	}
	run := rec.Repetitions[0]
	checkFound(t, run)
	if kept == nil {
		t.Fatal("no confirmation passed")
	}
	if res.Counts != kept.Counts || res.Latency != kept.Latency {
		t.Errorf("search result counts %+v latency %+v, want the kept confirmation's %+v %+v", res.Counts, res.Latency, kept.Counts, kept.Latency)
	}
	// Degraded is possible on a loaded machine (a saturated generator);
	// it must be the kept probe's own status.
	if res.Status != kept.Status || res.Status == results.StatusFailed {
		t.Errorf("search result status %s (%s), want the kept confirmation's %s, not failed", res.Status, res.Explain(), kept.Status)
	}
}

// checkFound: the found rate is what capacity.Search promises. Low is the
// highest rate that passed the ramp and bisection; confirmations start at
// Low and step down after each failure (a loaded machine can fail one), so
// Found is the rate of the one confirmation that passed, and every
// confirmation above it failed.
func checkFound(t *testing.T, run capacity.SearchRun) {
	t.Helper()
	if run.Found <= 0 || !run.Confirmed {
		t.Fatalf("found %v confirmed %v (%v), want a confirmed rate", run.Found, run.Confirmed, run.Notes)
	}
	var highest float64
	confirmed := false
	for _, p := range run.Probes {
		switch {
		case p.Phase == capacity.PhaseConfirm && p.Offered == run.Found:
			confirmed = confirmed || p.Passed()
		case p.Phase == capacity.PhaseConfirm && p.Offered > run.Found && p.Passed():
			t.Errorf("found %v, but the confirmation at %v passed", run.Found, p.Offered)
		case p.Phase != capacity.PhaseConfirm && p.Passed():
			highest = math.Max(highest, p.Offered)
		}
	}
	if highest != run.Low || run.Found > run.Low {
		t.Errorf("low %v found %v, want low the highest passing ramp or bisection rate %v and found at most low", run.Low, run.Found, highest)
	}
	if !confirmed {
		t.Errorf("found %v: no passing confirmation at it", run.Found)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestCoordinatorSearchProtocol drives scripted shards through a search
// (no broker): each follows the steps at PointProbe and hands over a
// result, the coordinator runs suite.Search on the merged results, and a
// table of cases says how it ends.
func TestCoordinatorSearchProtocol(t *testing.T) {
	w, err := workloads.Parse("w.yaml", []byte(`workloads:
  - name: s
    maxRate: {latency: {percentile: 99, below: 1s}, start: 100, maxProbes: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// failAt is the probe (0-based; the error counts from 1) whose run
		// fails on shard 1; -1 none.
		failAt   int
		searches *Searches
		want     string // in the error; "" when the search ends well
	}{
		// Every probe of the scripted shards fails its objective (they
		// record no latency): the search ramps down to its probe limit
		// and ends with no rate found, and every shard gets the end.
		{"ends", -1, &Searches{Workloads: w.Workloads, Limits: results.DefaultLimits()}, ""},
		{"a shard's probe run fails", 1, &Searches{Workloads: w.Workloads, Limits: results.DefaultLimits()}, "shard 1/2 failed: s on fake: search probe 2: broker gone"},
		{"no searches", -1, nil, "this coordinator runs no searches"},
		{"unknown workload", -1, &Searches{Limits: results.DefaultLimits()}, "not among the coordinator's maxRate workloads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, urls := startWorkers(t, 2)
			steps := make([][]suite.ProbeStep, 2)
			var wg sync.WaitGroup
			for i, wk := range ws {
				wg.Go(func() {
					var prev *results.Result
					for k := 0; ; k++ {
						step, err := wk.Searches("r").NextProbe(wk.Context(), suite.SearchPoint{Workload: "s", System: "fake", Probes: k}, prev)
						if err != nil {
							wk.Finish(nil, err)
							return
						}
						steps[i] = append(steps[i], step)
						if step.Done {
							wk.Finish(nil, nil)
							return
						}
						prev = &results.Result{Workload: "s", Driver: "fake", Status: results.StatusOK, OfferedRate: step.Rate / 2,
							Shard: &results.Shard{Index: i, Count: 2, RunID: fmt.Sprintf("r-p%d", step.N)}}
						if i == 1 && k == tt.failAt {
							prev.Status, prev.Error = results.StatusFailed, "broker gone"
						}
					}
				})
			}
			c := &Coordinator{Workers: urls, Searches: tt.searches}
			_, err := c.Drive(t.Context())
			wg.Wait()
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "":
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Drive = %v, want an error containing %q", err, tt.want)
				}
				return
			}
			// Ramp 100, 50, 25 (maxProbes 3), then a step that ends it.
			for i, ss := range steps {
				var rates []float64
				for _, s := range ss[:len(ss)-1] {
					rates = append(rates, s.Rate)
				}
				end := ss[len(ss)-1]
				if !slices.Equal(rates, []float64{100, 50, 25}) || !end.Done || end.Record == nil || end.Keep != 2 {
					t.Errorf("shard %d got rates %v and end %+v: want 100, 50, 25 and the end keeping the last probe", i, rates, end)
				}
			}
		})
	}
}
