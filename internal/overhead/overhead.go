// Package overhead measures what brokerbench costs over a minimal raw
// client loop of the same system (docs/performance.md, "Harness
// overhead"): the two loads alternate in one run, each on a fresh
// environment, and each side's median is compared. It is for benchmarks:
// every system's overhead benchmark uses it with its own raw loop and
// environment, and runs brokerbench through the runner exactly as the run
// command does (Run).
package overhead

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// Window is what one measurement moved: Messages between Start and End.
type Window struct {
	Messages   int64
	Start, End time.Time
}

// Rate is the window's messages per second.
func (w Window) Rate() float64 { return float64(w.Messages) / w.End.Sub(w.Start).Seconds() }

// Round is one measurement: its rate, and the CPU time the whole process
// (broker included when it runs in process) spent per message in its
// window. The CPU figure is the steadier one on a shared machine: other
// load takes cores away and lowers both sides' rates by chance, but
// barely changes what a message costs.
type Round struct {
	Rate      float64 // messages per second
	CPUPerMsg float64 // ns of process CPU per message; NaN when unknown
}

// Rates are the rounds of the raw loop and of brokerbench, in the order
// measured.
type Rates struct {
	Raw, Harness []Round
}

// Ratio is brokerbench's median rate over the raw loop's: 1 means the
// harness costs nothing, the target is at least 0.9.
func (r Rates) Ratio() float64 { return medianOf(r.Harness, rate) / medianOf(r.Raw, rate) }

// CPURatio is the raw loop's median CPU per message over brokerbench's,
// the same direction as Ratio: what throughput would compare at when
// both are bound by CPU alone.
func (r Rates) CPURatio() float64 { return medianOf(r.Raw, cpu) / medianOf(r.Harness, cpu) }

func rate(r Round) float64 { return r.Rate }
func cpu(r Round) float64  { return r.CPUPerMsg }

func medianOf(rs []Round, f func(Round) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return Median(v)
}

// Report records both sides' median rates and CPU per message and the two
// ratios as benchmark metrics (raw names the raw client, "franz-go" say)
// and logs every round.
func (r Rates) Report(b *testing.B, raw string) {
	b.ReportMetric(medianOf(r.Raw, rate), raw+"-msg/s")
	b.ReportMetric(medianOf(r.Harness, rate), "brokerbench-msg/s")
	b.ReportMetric(r.Ratio(), "ratio")
	b.ReportMetric(medianOf(r.Raw, cpu), raw+"-cpu-ns/msg")
	b.ReportMetric(medianOf(r.Harness, cpu), "brokerbench-cpu-ns/msg")
	b.ReportMetric(r.CPURatio(), "cpu-ratio")
	list := func(rs []Round, f func(Round) float64) []float64 {
		v := make([]float64, len(rs))
		for i, x := range rs {
			v[i] = math.Round(f(x))
		}
		return v
	}
	b.Logf("msg/s: %s %v, brokerbench %v; ratio of medians %.3f", raw, list(r.Raw, rate), list(r.Harness, rate), r.Ratio())
	b.Logf("CPU ns/msg: %s %v, brokerbench %v; ratio of medians %.3f", raw, list(r.Raw, cpu), list(r.Harness, cpu), r.CPURatio())
}

// Compare measures raw and harness rounds times each, alternating which
// goes first so that neither always runs on a warmer (or more tired)
// machine. Every measurement gets its own environment from fresh (a new
// broker, data directory, topic), torn down by the returned func right
// after it, so neither load pays for what the other left behind. A
// measurement returns the window it timed; the process CPU is sampled
// throughout, so that the CPU of that window alone is known even when
// the window is only found afterwards (from a run's events).
func Compare[E any](tb testing.TB, rounds int, fresh func(testing.TB) (E, func()), raw, harness func(testing.TB, E) Window) Rates {
	tb.Helper()
	measure := func(f func(testing.TB, E) Window) Round {
		// Every window writes up to gigabytes; without a sync the kernel
		// would write the previous window's pages back during the next
		// one and charge it to whichever load comes second.
		syncDisks()
		env, done := fresh(tb)
		defer done()
		cs := startCPUSampler()
		w := f(tb, env)
		r := Round{Rate: w.Rate(), CPUPerMsg: math.NaN()}
		if used, ok := cs.stop().between(w.Start, w.End); ok {
			r.CPUPerMsg = float64(used) / float64(w.Messages)
		}
		return r
	}
	var r Rates
	for i := range rounds {
		if i%2 == 0 {
			r.Raw = append(r.Raw, measure(raw))
			r.Harness = append(r.Harness, measure(harness))
		} else {
			r.Harness = append(r.Harness, measure(harness))
			r.Raw = append(r.Raw, measure(raw))
		}
	}
	return r
}

// cpuSampleEvery is the CPU sampler's period: fine against windows of
// seconds, and a getrusage call per period costs nothing measurable.
const cpuSampleEvery = 2 * time.Millisecond

type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

type cpuSamples []cpuSample

type cpuSampler struct {
	stopc chan struct{}
	done  chan cpuSamples
}

// startCPUSampler records the process CPU every cpuSampleEvery until stop.
func startCPUSampler() *cpuSampler {
	cs := &cpuSampler{stopc: make(chan struct{}), done: make(chan cpuSamples, 1)}
	go func() {
		tick := time.NewTicker(cpuSampleEvery)
		defer tick.Stop()
		out := cpuSamples{{time.Now(), processCPU()}}
		for {
			select {
			case <-tick.C:
				out = append(out, cpuSample{time.Now(), processCPU()})
			case <-cs.stopc:
				cs.done <- append(out, cpuSample{time.Now(), processCPU()})
				return
			}
		}
	}()
	return cs
}

func (cs *cpuSampler) stop() cpuSamples {
	close(cs.stopc)
	return <-cs.done
}

// between is the CPU used from t0 to t1, interpolated between samples;
// false when CPU time cannot be read here.
func (s cpuSamples) between(t0, t1 time.Time) (time.Duration, bool) {
	a, b := s.at(t0), s.at(t1)
	return b - a, a >= 0 && b >= 0
}

// at is the process CPU at t, interpolated linearly between the samples
// around it (clamped to the first and last); -1 when unknown.
func (s cpuSamples) at(t time.Time) time.Duration {
	i, _ := slices.BinarySearchFunc(s, t, func(c cpuSample, t time.Time) int { return c.at.Compare(t) })
	switch {
	case i == 0:
		return s[0].cpu
	case i == len(s):
		return s[len(s)-1].cpu
	}
	lo, hi := s[i-1], s[i]
	if lo.cpu < 0 || hi.cpu < 0 {
		return -1
	}
	f := float64(t.Sub(lo.at)) / float64(hi.at.Sub(lo.at))
	return lo.cpu + time.Duration(f*float64(hi.cpu-lo.cpu))
}

// Median is the middle value of v (the upper middle for an even count).
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// PublishWorkload is the publish side: one producer at maximum rate
// (closed loop) with at most inFlight sends outstanding, size-byte
// messages, one partition, no consumers, measured for window with no
// warm-up. Delivery settings are the workload defaults (acks=all,
// idempotent, no compression), which the raw loop must match.
func PublishWorkload(size, inFlight int, window time.Duration) workloads.Workload {
	w := workloads.Workload{
		Name: "overhead-publish", PartitionsPerTopic: 1, MessageSize: size,
		ConsumerPerSubscription: 1, TestDuration: window,
	}
	w.Default()
	// Default reads 0 as unset; here both mean none.
	w.SubscriptionsPerTopic, w.WarmupDuration = 0, 0
	w.Delivery.MaxInFlight = inFlight
	return w
}

// DrainWorkload is the consume side: producers at maximum rate build a
// backlog of about n size-byte messages on one partition, stop
// (pauseProducersDuringDrain), and one consumer drains it; the measured
// phase after it is short and not what is compared (DrainRate).
func DrainWorkload(size, n int) workloads.Workload {
	w := workloads.Workload{
		Name: "overhead-consume", PartitionsPerTopic: 1, MessageSize: size,
		SubscriptionsPerTopic: 1, ConsumerPerSubscription: 1,
		ConsumerBacklogSizeGB:     float64(n) * float64(size) / (1 << 30),
		BacklogDrainRatio:         1,
		PauseProducersDuringDrain: true,
		TestDuration:              200 * time.Millisecond,
	}
	w.Default()
	w.WarmupDuration = 0 // a backlog run has none, but 0 reads as unset
	return w
}

// Run runs w on sys through the runner as the run command does (default
// sample interval, no history), with a logger that keeps only warnings.
func Run(ctx context.Context, w workloads.Workload, sys adapters.System) (*results.Result, error) {
	rn, err := runner.New(runner.Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, err
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("overhead workload %s: %w", w.Name, err)
	}
	return rn.Run(ctx, w, sys)
}

// Bench alternates raw and harness over rounds with no per-round state
// (Compare with an empty fresh), once per b.Loop, and reports the last
// comparison with raw's side named rawName.
func Bench(b *testing.B, rounds int, rawName string, raw, harness func(testing.TB) Window) {
	var r Rates
	fresh := func(testing.TB) (struct{}, func()) { return struct{}{}, func() {} }
	for b.Loop() {
		r = Compare(b, rounds, fresh,
			func(tb testing.TB, _ struct{}) Window { return raw(tb) },
			func(tb testing.TB, _ struct{}) Window { return harness(tb) })
	}
	r.Report(b, rawName)
}

// RunOn opens a system with open, runs w on it as Run does and closes it
// when the run ends: a client left behind until the end of the benchmark
// keeps working (polling, pinging) and taxes every later round. Any error
// fails tb.
func RunOn(tb testing.TB, w workloads.Workload, open func(context.Context) (adapters.System, error)) *results.Result {
	tb.Helper()
	sys, err := open(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	defer sys.Close()
	res, err := Run(context.Background(), w, sys)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// PublishWindow is a run's measured phase and the messages acknowledged
// in the run (all of them in the measured phase, as PublishWorkload has no
// warm-up; the last in-flight acks after it are a negligible share).
func PublishWindow(res *results.Result) (Window, error) {
	for _, e := range res.Events {
		if e.Kind == "measure-start" {
			end := e.Time.Add(time.Duration(res.Meta.MeasuredSeconds * float64(time.Second)))
			return Window{Messages: res.Counts.Acked, Start: e.Time, End: end}, nil
		}
	}
	return Window{}, fmt.Errorf("run %s has no measure-start event", res.Workload)
}

// DrainWindow is how a backlog run's consumers drained the backlog (the
// result's BacklogPhase): the messages consumed from Built (consumers
// about to start, so joining the group counts, as it does for a raw
// client) to Drained (the runner's check found at most the allowed rest).
func DrainWindow(res *results.Result) (Window, error) {
	bp := res.BacklogPhase
	if bp == nil || !bp.Drained.After(bp.Built) {
		return Window{}, fmt.Errorf("run %s has no drained backlog phase", res.Workload)
	}
	return Window{Messages: bp.Consumed, Start: bp.Built, End: bp.Drained}, nil
}

// Rounds is how many alternating rounds an overhead benchmark measures:
// n, or 1 under -short, which `make test` passes when it runs every
// benchmark once to keep them working (a figure for docs/performance.md
// comes from a run without -short).
func Rounds(n int) int {
	if testing.Short() {
		return 1
	}
	return n
}
