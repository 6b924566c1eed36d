package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
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

// Repeated returns o for a run of n repetitions of each (workload,
// system) (Config.Repeat): a saturation search repeats itself (its
// repetitions give the found rate's interval), so n becomes the searches'
// repetition count unless o sets one, and searches run in the first round
// only. A distributed run's coordinator, which runs the searches, calls it
// as one machine's Run does.
func (o SearchOptions) Repeated(n int) SearchOptions {
	if n > 1 && o.Repeat == 0 {
		o.Repeat = n
	}
	return o
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

// SearchSpec is one saturation search: a maxRate workload on one system.
type SearchSpec struct {
	// Workload has a MaxRate; Options override its search (the flags of
	// `brokerbench run`).
	Workload workloads.Workload
	Options  SearchOptions
	// System names the system searched, for logs and the result.
	System string
	// Logger receives the search's progress. Default discards.
	Logger *slog.Logger
	_      struct{}
}

// ProbeRun is one probe to run: Workload at the probe's rate
// (ProducerRate), measured for Probe after Warmup.
type ProbeRun struct {
	Workload      workloads.Workload
	Phase         string
	Probe, Warmup time.Duration
}

// ProbeFunc runs one probe and returns its result, as [runner.Runner.Run]
// does: a result with a failed status is a failed probe, which the search
// judges; an error with no result, or a cancelled context, ends the search.
type ProbeFunc func(ctx context.Context, p ProbeRun) (*results.Result, error)

// searcher runs the probes of one maxRate workload on one system.
type searcher struct {
	spec SearchSpec
	m    workloads.MaxRate
	run  ProbeFunc
	last *results.Result // the latest probe's result
	conf *results.Result // the latest passing confirmation's result
}

// Search runs the saturation search spec: m.Repeat searches
// (capacity.Search), each a sequence of open-loop probes run by run and
// judged by capacity.Judge, and returns the search's result: the last
// passing confirmation run (else the last probe), which is one of run's
// results, with the search record in its Capacity field. One machine's
// probes are runner runs (Run); a distributed run's are the merged shards
// of one run each (package distributed), so both judge, choose rates and
// record alike. Only a cancelled context is an error: a search that could
// not go on is a failed result.
func Search(ctx context.Context, spec SearchSpec, run ProbeFunc) (*results.Result, error) {
	if spec.Logger == nil {
		spec.Logger = slog.New(slog.DiscardHandler)
	}
	w := spec.Workload
	if w.MaxRate == nil {
		return nil, usagef("workload %s has no maxRate: nothing to search", w.Name)
	}
	m := spec.Options.apply(*w.MaxRate)
	s := &searcher{spec: spec, m: m, run: run}
	var reps []capacity.SearchRun
	var serr error
	for i := range m.Repeat {
		spec.Logger.Info("capacity search", "workload", w.Name, "system", spec.System, "repetition", i+1, "of", m.Repeat, "objective", m.Objective.String())
		rep, err := capacity.Search(ctx, m.Search, s.probe, time.Now)
		reps = append(reps, rep)
		if err != nil {
			serr = err
			break
		}
		spec.Logger.Info("capacity found", "workload", w.Name, "system", spec.System, "rate", math.Round(rep.Found), "confirmed", rep.Confirmed, "stop", rep.Stop, "probes", len(rep.Probes))
	}
	if errors.Is(serr, context.Canceled) {
		return nil, serr
	}
	return s.result(reps, serr), nil
}

// probeOptions are the runner options of a probe: they replace the
// duration, warm-up, sample interval and drain timeout, and record no
// history.
func probeOptions(probe, warmup time.Duration) []runner.Option {
	// At least ten samples per probe, so backlog growth is a slope and not
	// a difference of two points.
	interval := min(time.Second, max(100*time.Millisecond, probe/10))
	// An overloaded probe must not spend the budget draining: what is not
	// received within twice the probe (at least 5s) fails it anyway.
	drain := max(5*time.Second, 2*probe)
	return []runner.Option{runner.Duration(probe), runner.Warmup(warmup), runner.Interval(interval), runner.DrainTimeout(drain),
		runner.History(func(string, string) (io.WriteCloser, error) { return nil, nil })}
}

// searchOne runs the saturation search of w on sys on this machine and
// writes its result ([Search]). opts are the system's runner options.
func searchOne(ctx context.Context, cfg *Config, opts []runner.Option, w workloads.Workload, name string, sys adapters.System, hist historyFiles, out *Outcome) error {
	m := cfg.Search.apply(*w.MaxRate)
	rn, err := runner.New(append(slices.Clip(opts), probeOptions(m.Probe, m.Warmup)...)...)
	if err != nil {
		return usage(err)
	}
	if cfg.OnStart != nil {
		cfg.OnStart(w, name)
	}
	res, err := Search(ctx, SearchSpec{Workload: w, Options: cfg.Search, System: name, Logger: cfg.Logger},
		func(ctx context.Context, p ProbeRun) (*results.Result, error) { return rn.Run(ctx, p.Workload, sys) })
	if err != nil {
		return err
	}
	return writeSearch(cfg, w, res, hist, out)
}

// writeSearch writes a search's result and evaluates its workload's
// thresholds on it.
func writeSearch(cfg *Config, w workloads.Workload, res *results.Result, hist historyFiles, out *Outcome) error {
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
	pw := s.spec.Workload
	pw.ProducerRate = rate
	res, err := s.run(ctx, ProbeRun{Workload: pw, Phase: phase, Probe: s.m.Probe, Warmup: s.m.Warmup})
	if cerr := ctx.Err(); cerr != nil {
		return capacity.Probe{}, cerr
	}
	if res == nil {
		return capacity.Probe{}, errors.Join(errors.New("the probe produced no result"), err)
	}
	s.last = res
	if res.Status == results.StatusNotApplicable {
		return capacity.Probe{}, fmt.Errorf("%w: %s", errNotApplicable, res.Error)
	}
	if err != nil {
		s.spec.Logger.Warn("probe run failed", "workload", pw.Name, "rate", rate, "err", err)
	}
	p := capacity.Judge(s.m.Objective, measure(res, s.m.Objective, rate, pw.SubscriptionsPerTopic))
	if phase == capacity.PhaseConfirm && p.Passed() {
		s.conf = res
	}
	s.spec.Logger.Info("probe", "workload", pw.Name, "phase", phase, "offered", math.Round(rate), "achieved", math.Round(p.Achieved),
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
	w := s.spec.Workload
	if res == nil {
		// No probe ran (the search failed before its first).
		scenario, _, _ := strings.Cut(w.Name, "[")
		res = &results.Result{Status: results.StatusFailed, Workload: w.Name, Scenario: scenario, Driver: s.spec.System, Sweep: w.Sweep, Spec: w}
	}
	res.Capacity = rec
	switch {
	case errors.Is(serr, errNotApplicable):
		res.Status, res.Error = results.StatusNotApplicable, serr.Error()
	case serr != nil:
		res.Status, res.Error = results.StatusFailed, "capacity search: "+serr.Error()
	default:
		if w := rec.Warning(); w != "" {
			res.Meta.Warnings = append(res.Meta.Warnings, w)
		}
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
