package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/capacity"
	"github.com/brokerbench/brokerbench/gate"
	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// SearchOptions override the maxRate searches of every workload (the
// flags of `brokerbench run`); a zero field keeps the workload's own.
type SearchOptions struct {
	// Repeat is how many times each search runs, for an interval on the
	// found rate (maxRate.repeat).
	Repeat int
	// Probe and Warmup are each probe's measured and warm-up length
	// (maxRate.probe, maxRate.warmup); Warmup applies when WarmupSet.
	Probe     time.Duration
	Warmup    time.Duration
	WarmupSet bool
	// Budget bounds each repetition's wall time (maxRate.budget).
	Budget time.Duration
	_      struct{}
}

// apply returns m with the overrides.
func (o SearchOptions) apply(m workloads.MaxRate) workloads.MaxRate {
	if o.Repeat > 0 {
		m.Repeat = o.Repeat
	}
	if o.Probe > 0 {
		m.Probe = o.Probe
	}
	if o.WarmupSet {
		m.Warmup = o.Warmup
	}
	if o.Budget > 0 {
		m.Search.Budget = o.Budget
	}
	return m
}

// validate checks the overrides; errors wrap ErrUsage.
func (o SearchOptions) validate() error {
	switch {
	case o.Repeat < 0:
		return usagef("search repetitions %d: must be at least 1", o.Repeat)
	case o.Probe < 0, o.Warmup < 0, o.Budget < 0:
		return usagef("search probe %v, warm-up %v and budget %v must not be negative", o.Probe, o.Warmup, o.Budget)
	}
	return nil
}

// errNotApplicable stops a search on a system that cannot run the
// workload at all.
var errNotApplicable = errors.New("not applicable")

// searcher runs the probes of one maxRate workload on one system.
type searcher struct {
	cfg  *Config
	rn   *runner.Runner
	w    workloads.Workload
	m    workloads.MaxRate
	sys  adapters.System
	last *results.Result // the latest probe's result
	conf *results.Result // the latest passing confirmation's result
}

// searchOne runs the saturation search of w on sys: m.Repeat searches,
// each a sequence of open-loop probes (capacity.Search), then writes one
// result: the last passing confirmation run, with the search in its
// Capacity field. opts are the system's runner options; probes replace
// the duration, warm-up, sample interval and drain timeout, and record no
// history.
func searchOne(ctx context.Context, cfg *Config, opts []runner.Option, w workloads.Workload, name string, sys adapters.System, hist historyFiles, out *Outcome) error {
	m := cfg.Search.apply(*w.MaxRate)
	// At least ten samples per probe, so backlog growth is a slope and not
	// a difference of two points.
	interval := min(time.Second, max(100*time.Millisecond, m.Probe/10))
	// An overloaded probe must not spend the budget draining: what is not
	// received within twice the probe (at least 5s) fails it anyway.
	drain := max(5*time.Second, 2*m.Probe)
	rn, err := runner.New(append(opts, runner.Duration(m.Probe), runner.Warmup(m.Warmup), runner.Interval(interval), runner.DrainTimeout(drain),
		runner.History(func(string, string) (io.WriteCloser, error) { return nil, nil }))...)
	if err != nil {
		return usage(err)
	}
	if cfg.OnStart != nil {
		cfg.OnStart(w, name)
	}
	s := &searcher{cfg: cfg, rn: rn, w: w, m: m, sys: sys}
	var reps []capacity.SearchRun
	var serr error
	for i := range m.Repeat {
		cfg.Logger.Info("capacity search", "workload", w.Name, "system", name, "repetition", i+1, "of", m.Repeat, "objective", m.Objective.String())
		run, err := capacity.Search(ctx, m.Search, s.probe, time.Now)
		reps = append(reps, run)
		if err != nil {
			serr = err
			break
		}
		cfg.Logger.Info("capacity found", "workload", w.Name, "system", name, "rate", math.Round(run.Found), "confirmed", run.Confirmed, "stop", run.Stop, "probes", len(run.Probes))
	}
	if errors.Is(serr, context.Canceled) {
		return serr
	}
	res := s.result(reps, serr)
	if cfg.OnFinish != nil {
		cfg.OnFinish(res)
	}
	path, err := results.Write(hist.out, res)
	if err != nil {
		return err
	}
	cfg.Logger.Info("result written", "path", path, "status", res.Status)
	out.Results = append(out.Results, res)
	// Thresholds were validated when the workloads loaded.
	ts, _ := gate.ParseAll(w.Thresholds)
	out.Checks = append(out.Checks, gate.Evaluate(res, ts, gate.Policy{AllowDegraded: cfg.AllowDegraded})...)
	return nil
}

// probe runs w at rate and judges it.
func (s *searcher) probe(ctx context.Context, phase string, rate float64) (capacity.Probe, error) {
	pw := s.w
	pw.ProducerRate = rate
	res, err := s.rn.Run(ctx, pw, s.sys)
	if cerr := ctx.Err(); cerr != nil {
		return capacity.Probe{}, cerr
	}
	s.last = res
	if res.Status == results.StatusNotApplicable {
		return capacity.Probe{}, fmt.Errorf("%w: %s", errNotApplicable, res.Error)
	}
	if err != nil {
		s.cfg.Logger.Warn("probe run failed", "workload", s.w.Name, "rate", rate, "err", err)
	}
	p := capacity.Judge(s.m.Objective, measure(res, s.m.Objective, rate, s.w.SubscriptionsPerTopic))
	if phase == capacity.PhaseConfirm && p.Passed() {
		s.conf = res
	}
	s.cfg.Logger.Info("probe", "workload", s.w.Name, "phase", phase, "offered", math.Round(rate), "achieved", math.Round(p.Achieved),
		"p99_ms", p.P99, "verdict", p.Verdict, "reasons", p.Reasons)
	return p, nil
}

// result is the search's result file: the last passing confirmation run
// (else the last probe) with the search record. A search that could not
// run its probes is a failed result; one whose probes ran but met the
// objective nowhere keeps the last probe's status (the search did what
// was asked: it found no rate) with a warning saying so.
func (s *searcher) result(reps []capacity.SearchRun, serr error) *results.Result {
	rec := capacity.NewRecord(s.m.Objective, s.m.Search, s.m.Probe, s.m.Warmup, s.m.Brokers, reps)
	res := s.conf
	if res == nil {
		res = s.last
	}
	if res == nil {
		// No probe ran (the search failed before its first).
		scenario, _, _ := strings.Cut(s.w.Name, "[")
		res = &results.Result{Status: results.StatusFailed, Workload: s.w.Name, Scenario: scenario, Driver: s.sys.Name(), Sweep: s.w.Sweep, Spec: s.w}
	}
	res.Capacity = rec
	switch {
	case errors.Is(serr, errNotApplicable):
		res.Status, res.Error = results.StatusNotApplicable, serr.Error()
	case serr != nil:
		res.Status, res.Error = results.StatusFailed, "capacity search: "+serr.Error()
	case rec.Found.N == 0:
		res.Meta.Warnings = append(res.Meta.Warnings, "capacity search: no rate met "+s.m.Objective.String()+
			" and passed its confirmation; the figures are the last probe's (see capacity.repetitions)")
	}
	return res
}

// measure extracts what capacity.Judge needs from a probe's result.
func measure(res *results.Result, o capacity.Objective, rate float64, subs int) capacity.Measurement {
	m := capacity.Measurement{Offered: rate, Subscriptions: subs, Seconds: res.Meta.MeasuredSeconds,
		Failed: res.Counts.Failed, Lost: res.Counts.Lost}
	if res.Status == results.StatusFailed {
		// A run can fail by its figures (every send failed) without a
		// run error; Explain names either.
		m.RunError = res.Explain()
	}
	m.Achieved, _ = res.MeasuredPublishRate()
	var xs, ys []float64
	var consumed float64
	for _, s := range res.Samples {
		if s.Measured() {
			xs, ys = append(xs, s.Elapsed), append(ys, float64(s.Backlog))
			consumed += s.ConsumeRate
		}
	}
	if len(xs) > 0 && subs > 0 {
		m.Consumed = consumed / float64(len(xs)) / float64(subs)
	}
	if len(xs) >= 2 {
		_, m.BacklogGrowth = stat.LinearRegression(xs, ys, nil, false)
	}
	sum, enc := res.Latency.EndToEnd, res.Histograms.EndToEnd
	if o.Of == capacity.OfPublish {
		sum, enc = res.Latency.Publish, res.Histograms.Publish
	}
	m.P50, m.P99, m.AtObjective = math.NaN(), math.NaN(), math.NaN()
	if sum.Count > 0 {
		m.P50, m.P99 = sum.P50, sum.P99
		if h, err := metrics.Decode(enc); err == nil && h.TotalCount() > 0 {
			// Histograms hold microseconds.
			m.AtObjective = float64(h.ValueAtQuantile(o.Percentile)) / 1000
		}
	}
	return m
}
