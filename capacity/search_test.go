package capacity

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// fakeSystem sustains every rate up to limit; each probe takes probe of
// fake time. flaky makes the first confirmation fail.
type fakeSystem struct {
	limit  float64
	probe  time.Duration
	now    time.Time
	flaky  bool
	probes int
}

func (f *fakeSystem) clock() time.Time { return f.now }

func (f *fakeSystem) run(_ context.Context, phase string, rate float64) (Probe, error) {
	f.now = f.now.Add(f.probe)
	f.probes++
	ok := rate <= f.limit
	if phase == PhaseConfirm && f.flaky {
		f.flaky, ok = false, false
	}
	m := Measurement{Offered: rate, Achieved: math.Min(rate, f.limit), Seconds: 1, AtObjective: 5, P50: 1, P99: 5}
	if !ok {
		m.AtObjective = 500
	}
	return Judge(Objective{Percentile: 99, BelowMs: 50, Of: OfPublish, MinAchieved: 0.99}, m), nil
}

func TestSearch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       SearchConfig
		limit     float64
		flaky     bool
		stop      string
		confirmed bool
		lo, hi    float64 // Found must lie in [lo, hi]
	}{
		// The ramp brackets 7000 between 4000 and 8000; bisection narrows to 5%.
		{name: "converges", cfg: SearchConfig{Start: 1000}, limit: 7000, stop: StopConverged, confirmed: true, lo: 7000 / 1.05, hi: 7000},
		// A first probe above the limit ramps down, then bisects.
		{name: "ramps down", cfg: SearchConfig{Start: 50000}, limit: 7000, stop: StopConverged, confirmed: true, lo: 7000 / 1.05, hi: 7000},
		// Max is sustained: the search stops there and says the limit is higher.
		{name: "ceiling", cfg: SearchConfig{Start: 1000, Max: 3000}, limit: 7000, stop: StopCeiling, confirmed: true, lo: 3000, hi: 3000},
		// Nothing passes down to Min.
		{name: "floor", cfg: SearchConfig{Start: 1000, Min: 200}, limit: 100, stop: StopFloor, lo: 0, hi: 0},
		// The budget allows only a few probes: the search stops early but still confirms.
		{name: "budget", cfg: SearchConfig{Start: 1000, Budget: 10 * time.Second}, limit: 70000, stop: StopBudget, confirmed: true, lo: 1000, hi: 70000},
		// A failed confirmation tries a lower rate.
		{name: "flaky confirmation", cfg: SearchConfig{Start: 1000}, limit: 7000, flaky: true, stop: StopConverged, confirmed: true, lo: 5000, hi: 7000},
		// Probe cap.
		{name: "max probes", cfg: SearchConfig{Start: 1000, MaxProbes: 3}, limit: 70000, stop: StopProbes, confirmed: true, lo: 4000, hi: 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Default()
			if err := tt.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			f := &fakeSystem{limit: tt.limit, probe: 2 * time.Second, now: time.Unix(0, 0), flaky: tt.flaky}
			run, err := Search(context.Background(), tt.cfg, f.run, f.clock)
			if err != nil {
				t.Fatal(err)
			}
			if run.Stop != tt.stop || run.Confirmed != tt.confirmed || run.Found < tt.lo || run.Found > tt.hi {
				t.Errorf("stop %s confirmed %v found %.0f; want %s %v in [%.0f, %.0f]; notes %v", run.Stop, run.Confirmed, run.Found, tt.stop, tt.confirmed, tt.lo, tt.hi, run.Notes)
			}
			// The budget holds to within one probe.
			if limit := tt.cfg.Budget + f.probe; time.Duration(run.Seconds*float64(time.Second)) > limit {
				t.Errorf("search took %.0fs, budget %v plus one probe", run.Seconds, tt.cfg.Budget)
			}
			if run.High > 0 && run.Low >= run.High {
				t.Errorf("bracket [%v, %v] is not ordered", run.Low, run.High)
			}
			if tt.stop != StopFloor && run.Probes[len(run.Probes)-1].Phase != PhaseConfirm {
				t.Errorf("last probe is %s, want a confirmation", run.Probes[len(run.Probes)-1].Phase)
			}
		})
	}
}

func TestSearchCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := SearchConfig{}
	cfg.Default()
	f := &fakeSystem{limit: 1000, probe: time.Second, now: time.Unix(0, 0)}
	if _, err := Search(ctx, cfg, f.run, f.clock); err == nil || f.probes != 0 {
		t.Fatalf("err %v after %d probes; want context.Canceled before any probe", err, f.probes)
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	o := Objective{Percentile: 99, BelowMs: 50}
	o.Default()
	ok := Measurement{Offered: 1000, Achieved: 1000, Consumed: 1000, Subscriptions: 1, AtObjective: 10, Seconds: 10}
	tests := []struct {
		name string
		edit func(m *Measurement)
		pass bool
	}{
		{name: "sustained", edit: func(*Measurement) {}, pass: true},
		// 98.5% of offered is below 99%.
		{name: "achieved short", edit: func(m *Measurement) { m.Achieved, m.Consumed = 985, 985 }},
		// Consumers fall behind while publishing keeps up: 1000 messages behind over 10 s.
		{name: "consumers behind", edit: func(m *Measurement) { m.Consumed = 900 }},
		// 4 msg/s behind is 40 messages: within the 50 ms in flight at 1000 msg/s.
		{name: "consumers noise", edit: func(m *Measurement) { m.Consumed = 996 }, pass: true},
		// 50 msg/s of growth over 10 s is 500 messages: more than 1% of 10,000 and more than 1000 msg/s x 50 ms.
		{name: "backlog grows", edit: func(m *Measurement) { m.BacklogGrowth = 50 }},
		// In-flight noise of 4 msg/s (40 messages) is within what 50 ms at 1000 msg/s allows.
		{name: "backlog noise", edit: func(m *Measurement) { m.BacklogGrowth = 4 }, pass: true},
		// The bound is strict: equal fails.
		{name: "latency at bound", edit: func(m *Measurement) { m.AtObjective = 50 }},
		// Nothing recorded: fails, and the probe still encodes as JSON.
		{name: "no latency", edit: func(m *Measurement) { m.AtObjective, m.P50, m.P99 = math.NaN(), math.NaN(), math.NaN() }},
		{name: "send failures", edit: func(m *Measurement) { m.Failed = 1 }},
		{name: "run failed", edit: func(m *Measurement) { m.RunError = "broker gone" }},
		// Produce-only: no subscription, the consumed rate is not judged.
		{name: "produce only", edit: func(m *Measurement) { m.Subscriptions, m.Consumed = 0, 0 }, pass: true},
	}
	for _, tt := range tests {
		m := ok
		tt.edit(&m)
		p := Judge(o, m)
		if p.Passed() != tt.pass || (p.Passed() != (len(p.Reasons) == 0)) {
			t.Errorf("%s: verdict %s reasons %v; want pass=%v", tt.name, p.Verdict, p.Reasons, tt.pass)
		}
		if _, err := json.Marshal(p); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestObjectiveStrictness(t *testing.T) {
	t.Parallel()
	base := Objective{Percentile: 99, BelowMs: 50, Of: OfEndToEnd, MinAchieved: 0.99}
	tests := []struct {
		name   string
		other  Objective
		strict bool
	}{
		{name: "same", other: base, strict: true},
		{name: "looser bound", other: Objective{Percentile: 99, BelowMs: 100, Of: OfEndToEnd, MinAchieved: 0.99}, strict: true},
		{name: "lower percentile", other: Objective{Percentile: 95, BelowMs: 50, Of: OfEndToEnd, MinAchieved: 0.99}, strict: true},
		{name: "tighter bound", other: Objective{Percentile: 99, BelowMs: 20, Of: OfEndToEnd, MinAchieved: 0.99}},
		{name: "higher percentile", other: Objective{Percentile: 99.9, BelowMs: 50, Of: OfEndToEnd, MinAchieved: 0.99}},
		{name: "other figure", other: Objective{Percentile: 99, BelowMs: 50, Of: OfPublish, MinAchieved: 0.99}},
	}
	for _, tt := range tests {
		if got := base.AtLeastAsStrict(tt.other); got != tt.strict {
			t.Errorf("%s: AtLeastAsStrict = %v, want %v", tt.name, got, tt.strict)
		}
	}
}
