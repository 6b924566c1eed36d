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
	"slices"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// Rates are the per-round figures, in messages per second, of the raw
// loop and of brokerbench, in the order measured.
type Rates struct {
	Raw, Harness []float64
}

// Ratio is brokerbench's median over the raw loop's median: 1 means the
// harness costs nothing, the target is at least 0.9.
func (r Rates) Ratio() float64 { return Median(r.Harness) / Median(r.Raw) }

// Report records both medians and the ratio as benchmark metrics (raw
// names the raw client, "franz-go" say) and logs every round.
func (r Rates) Report(b *testing.B, raw string) {
	b.ReportMetric(Median(r.Raw), raw+"-msg/s")
	b.ReportMetric(Median(r.Harness), "brokerbench-msg/s")
	b.ReportMetric(r.Ratio(), "ratio")
	b.Logf("rounds: %s %.0f, brokerbench %.0f msg/s; medians %.0f / %.0f, ratio %.3f",
		raw, r.Raw, r.Harness, Median(r.Raw), Median(r.Harness), r.Ratio())
}

// Compare measures raw and harness rounds times each, alternating which
// goes first so that neither always runs on a warmer (or more tired)
// machine. Every measurement gets its own environment from fresh (a new
// broker, data directory, topic), torn down by the returned func right
// after it, so neither load pays for what the other left behind.
func Compare[E any](tb testing.TB, rounds int, fresh func(testing.TB) (E, func()), raw, harness func(testing.TB, E) float64) Rates {
	tb.Helper()
	measure := func(f func(testing.TB, E) float64) float64 {
		// Every window writes up to gigabytes; without a sync the kernel
		// would write the previous window's pages back during the next
		// one and charge it to whichever load comes second.
		syncDisks()
		env, done := fresh(tb)
		defer done()
		return f(tb, env)
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

// PublishRate is a run's acknowledged messages per second of its measured
// phase.
func PublishRate(res *results.Result) float64 {
	return float64(res.Counts.Acked) / res.Meta.MeasuredSeconds
}

// DrainRate is how fast a backlog run's consumers drained the backlog:
// messages drained over the time from "backlog-built" (consumers about to
// start, so joining the group counts, as it does for a raw client) to
// "backlog-drained" (the runner's check found at most the allowed rest).
func DrainRate(res *results.Result) (float64, error) {
	var built, drained *results.Event
	for i, e := range res.Events {
		switch e.Kind {
		case "backlog-built":
			built = &res.Events[i]
		case "backlog-drained":
			drained = &res.Events[i]
		}
	}
	if built == nil || drained == nil {
		return 0, fmt.Errorf("run %s has no backlog-built and backlog-drained events", res.Workload)
	}
	var have, left int64
	if _, err := fmt.Sscanf(built.Detail, "%d messages", &have); err != nil {
		return 0, fmt.Errorf("read backlog-built %q: %w", built.Detail, err)
	}
	if _, err := fmt.Sscanf(drained.Detail, "%d messages left", &left); err != nil {
		return 0, fmt.Errorf("read backlog-drained %q: %w", drained.Detail, err)
	}
	return float64(have-left) / drained.Time.Sub(built.Time).Seconds(), nil
}
