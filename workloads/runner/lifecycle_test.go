package runner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/memory"
	"github.com/brokerbench/brokerbench/results"
)

// trackingRunner is a test runner recording topics in live.
func trackingRunner(t *testing.T, live *Resources) *Runner {
	t.Helper()
	rn, err := New(Interval(250*time.Millisecond), Logger(quietLogger()), Track(live))
	if err != nil {
		t.Fatal(err)
	}
	return rn
}

// stuckDelete is a system whose topics cannot be deleted.
type stuckDelete struct{ adapters.System }

func (stuckDelete) DeleteTopic(context.Context, string) error {
	return errors.New("broker unreachable")
}

// noRebalance hides the rebalance capability, as Redis and NATS declare.
type noRebalance struct{ adapters.System }

func (n noRebalance) Capabilities() adapters.Capabilities {
	c := n.System.Capabilities()
	c.Rebalance = false
	return c
}

// TestResourcesAndLeftovers: a run's topics are tracked while they exist;
// one that cannot be deleted stays tracked and is named in the result.
func TestResourcesAndLeftovers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var live Resources
		rn := trackingRunner(t, &live)
		w := smallWorkload("tracked")
		if _, err := rn.Run(t.Context(), w, memory.New(memory.Config{})); err != nil {
			t.Fatal(err)
		}
		if left := live.Live(); len(left) != 0 {
			t.Errorf("deleted topics still tracked: %v", left)
		}
		res, _ := rn.Run(t.Context(), w, stuckDelete{memory.New(memory.Config{})})
		left := live.Live()
		if len(left) != 1 || !strings.HasPrefix(left[0], "memory: bb-tracked-") {
			t.Errorf("undeletable topic not tracked: %v", left)
		}
		if !strings.Contains(strings.Join(res.Meta.Warnings, "\n"), "left behind: topic bb-tracked-") {
			t.Errorf("result does not name the topic left behind: %v", res.Meta.Warnings)
		}
	})
}

// TestRebalancesExcludeStartAndShutdown: the consumers' first assignments
// and the revocations of the run's own shutdown are not rebalances, and a
// system without rebalances reports none.
func TestRebalancesExcludeStartAndShutdown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		for _, sys := range []adapters.System{memory.New(memory.Config{}), noRebalance{memory.New(memory.Config{})}} {
			res, err := newTestRunner(t).Run(t.Context(), smallWorkload("quiet"), sys)
			if err != nil {
				t.Fatal(err)
			}
			assignments := 0
			for _, e := range res.Events {
				if e.Kind == "assigned" || e.Kind == "revoked" {
					assignments++
				}
			}
			if assignments == 0 || res.Counts.Rebalances != 0 {
				t.Errorf("%T: %d assignment events, %d rebalances; want some events and no rebalance; events %+v", sys, assignments, res.Counts.Rebalances, res.Events)
			}
		}
	})
}

// TestInterruptedRun: a run whose context ends mid-measurement returns
// its partial figures as interrupted, with an error wrapping the
// context's, and still deletes its topics.
func TestInterruptedRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var live Resources
		rn := trackingRunner(t, &live)
		w := smallWorkload("interrupted")
		w.TestDuration = time.Minute
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		res, err := rn.Run(ctx, w, memory.New(memory.Config{}))
		if !errors.Is(err, context.DeadlineExceeded) || res.Status != results.StatusInterrupted {
			t.Fatalf("status %s err %v", res.Status, err)
		}
		if res.Counts.Acked == 0 || len(res.Samples) == 0 || res.Generator == nil || len(res.StatusReasons) != 1 {
			t.Errorf("partial figures missing: counts %+v samples %d generator %v reasons %v", res.Counts, len(res.Samples), res.Generator, res.StatusReasons)
		}
		if left := live.Live(); len(left) != 0 {
			t.Errorf("interrupted run left %v", left)
		}
	})
}

// TestBacklogDrainRatioZero: with backlogDrainRatio 0 the run does not
// wait for consumers to drain the backlog before measuring, so it ends on
// time even when they never catch up (here: they start and then read
// nothing, as every delivery is dropped).
func TestBacklogDrainRatioZero(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := smallWorkload("backlog")
		w.MessageSize = 1024
		w.ConsumerBacklogSizeGB = 1.0 / 1024 // 1 MiB: 1024 messages
		w.BacklogDrainRatio = 0
		rn, err := New(Interval(250*time.Millisecond), Logger(quietLogger()), DrainTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := rn.Run(t.Context(), w, memory.New(memory.Config{Faults: memory.Faults{Lose: everyNth(1, 0)}}))
		if err != nil {
			t.Fatal(err)
		}
		// Building 1024 messages at 2000 msg/s takes about 0.5 s; then 2 s
		// measured and 1 s of drain timeout.
		if took := time.Since(start); took > 10*time.Second || res.Meta.MeasuredSeconds < 1.9 {
			t.Errorf("run took %s (measured %.1f s); want it to end on time", took, res.Meta.MeasuredSeconds)
		}
	})
}

// TestBacklogDrainStallFails: with backlogDrainRatio 1 and consumers that
// never receive anything, the drain wait makes no progress and fails the
// run after the drain timeout instead of waiting forever.
func TestBacklogDrainStallFails(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := smallWorkload("backlog-stall")
		w.MessageSize = 1024
		w.ConsumerBacklogSizeGB = 1.0 / 1024
		w.BacklogDrainRatio = 1
		rn, err := New(Interval(250*time.Millisecond), Logger(quietLogger()), DrainTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		res, err := rn.Run(t.Context(), w, memory.New(memory.Config{Faults: memory.Faults{Lose: everyNth(1, 0)}}))
		if err == nil || !strings.Contains(err.Error(), "backlog drain made no progress") || res.Status != results.StatusFailed {
			t.Errorf("status %s err %v", res.Status, err)
		}
	})
}

// TestBacklogPhaseFigures: a backlog run records its build and drain:
// consumers start with at least the backlog size waiting and drain it to
// the floor; the drain time and rate come from those instants and counts.
func TestBacklogPhaseFigures(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := smallWorkload("backlog-figures")
		w.MessageSize = 1024
		w.ConsumerBacklogSizeGB = 2.0 / 1024 // 2 MiB: 2048 messages
		w.BacklogDrainRatio = 1
		rn, err := New(Interval(250*time.Millisecond), Logger(quietLogger()), DrainTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		res, err := rn.Run(t.Context(), w, memory.New(memory.Config{}))
		if err != nil {
			t.Fatal(err)
		}
		bp := res.BacklogPhase
		if bp == nil {
			t.Fatal("no backlog phase in the result")
		}
		if bp.BuiltMessages < 2048 || bp.LeftMessages > 1000 || !bp.Drained.After(bp.Built) || bp.Consumed < bp.BuiltMessages-bp.LeftMessages {
			t.Errorf("backlog phase %+v: want >= 2048 built, drained to <= 1000 after it, consumed at least the difference", bp)
		}
		if got, want := bp.DrainRate(), float64(bp.Consumed)/bp.Drained.Sub(bp.Built).Seconds(); got != want {
			t.Errorf("drain rate %v, want %v", got, want)
		}
	})
}
