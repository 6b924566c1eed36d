package runner

import (
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/memory"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
)

// everyNth chooses the measured messages whose sequence number is
// rest modulo n (never a readiness probe, which the runner re-sends).
func everyNth(n, rest uint64) func(m *adapters.Message) bool {
	return func(m *adapters.Message) bool {
		h, ok := parseHeader(m.Value)
		return ok && !h.probe && h.seq%n == rest
	}
}

// chosen counts the sequence numbers below sent that everyNth(n, rest)
// chooses: what the system mishandled.
func chosen(sent int64, n, rest uint64) int64 {
	if sent <= int64(rest) {
		return 0
	}
	return (sent-int64(rest)-1)/int64(n) + 1
}

// TestAccountingCountsWhatTheSystemDid runs the runner against the
// in-memory system, which loses, duplicates or reorders chosen messages
// while acknowledging them, and checks that the result counts exactly
// those: the accounting, table-tested without a network. Inside a synctest
// bubble the open-loop schedule runs on a fake clock, so the 2.5 s
// workload takes no wall time and its rate is exact.
func TestAccountingCountsWhatTheSystemDid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults memory.Faults
		// want returns the expected lost, duplicate and out-of-order
		// counts for the number of messages sent.
		want func(sent int64) (lost, dup, reordered int64)
	}{
		{"healthy", memory.Faults{}, func(int64) (int64, int64, int64) { return 0, 0, 0 }},
		{"every 97th lost", memory.Faults{Lose: everyNth(97, 5)},
			func(sent int64) (int64, int64, int64) { return chosen(sent, 97, 5), 0, 0 }},
		// Nothing measured arrives: the drain gives up at its deadline
		// (20 s of fake time) and every message counts as lost.
		{"everything lost", memory.Faults{Lose: everyNth(1, 0)},
			func(sent int64) (int64, int64, int64) { return sent, 0, 0 }},
		{"every 89th duplicated", memory.Faults{Duplicate: everyNth(89, 3)},
			func(sent int64) (int64, int64, int64) { return 0, chosen(sent, 89, 3), 0 }},
		// A held-back message lands after the next one of its partition,
		// so each is received once, late: one out-of-order delivery each.
		{"every 83rd reordered", memory.Faults{Reorder: everyNth(83, 1)},
			func(sent int64) (int64, int64, int64) { return 0, 0, chosen(sent, 83, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := smallWorkload("memory")
				w.ConsumerPerSubscription = 1 // a rebalance would add duplicates of its own
				res, err := newTestRunner(t).Run(t.Context(), w, memory.New(memory.Config{Faults: tt.faults}))
				if err != nil {
					t.Fatal(err)
				}
				c := res.Counts
				lost, dup, reordered := tt.want(c.Sent)
				// 2000 msg/s for 2.5 s on a fake clock: sends at 0, 0.5 ms,
				// ..., none late; the one due at the very end races the
				// stop, which happens at the same fake instant.
				wantStatus := results.StatusOK
				if lost == c.Sent {
					// Consumers that receive nothing fail the run
					// (results.ReasonNothingReceived).
					wantStatus = results.StatusFailed
				}
				if res.Status != wantStatus || c.Sent < 5000 || c.Sent > 5001 || c.Acked != c.Sent || c.Failed != 0 || c.Late != 0 {
					t.Fatalf("status %s error %q counts %+v; want 5000 or 5001 sent and acked in time", res.Status, res.Error, c)
				}
				if c.Lost != lost || c.Duplicates != dup || c.OutOfOrder != reordered || c.Unexpected != 0 {
					t.Errorf("lost %d duplicates %d out of order %d unexpected %d; want %d, %d, %d, 0",
						c.Lost, c.Duplicates, c.OutOfOrder, c.Unexpected, lost, dup, reordered)
				}
				if c.Received != c.Acked-lost+dup {
					t.Errorf("received %d, want acked %d - lost %d + duplicates %d", c.Received, c.Acked, lost, dup)
				}
			})
		})
	}
}

// TestReadinessTimeoutNamesThePartitions: when the probes of some
// partitions never arrive, the run fails at --ready-timeout (one minute
// of fake time) naming them, and measures nothing.
func TestReadinessTimeoutNamesThePartitions(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		lostProbes := func(m *adapters.Message) bool {
			h, ok := parseHeader(m.Value)
			return ok && h.probe && m.Partition >= 2
		}
		start := time.Now()
		res, err := newTestRunner(t).Run(t.Context(), smallWorkload("unready"), memory.New(memory.Config{Faults: memory.Faults{Lose: lostProbes}}))
		if err == nil || !strings.Contains(err.Error(), "has not read partitions [2 3]") {
			t.Fatalf("Run = %v, want a readiness error naming partitions 2 and 3", err)
		}
		if waited := time.Since(start); waited < time.Minute {
			t.Errorf("gave up after %v, before the one-minute ready timeout", waited)
		}
		if res == nil || res.Status != results.StatusFailed || res.Counts.Sent != 0 {
			t.Errorf("result %+v, want a failed run that sent nothing measured", res)
		}
	})
}

// TestPauseDetection: a partition whose consumer stalls for a second in
// the middle of the measured phase is reported as one consumption pause of
// that second, and no other partition pauses.
func TestPauseDetection(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var stalled atomic.Int32
		stalled.Store(-1)
		stall := func(m *adapters.Message) time.Duration {
			if h, ok := parseHeader(m.Value); ok && !h.probe && h.seq == 2500 {
				stalled.Store(m.Partition)
				return time.Second
			}
			return 0
		}
		w := smallWorkload("stall")
		w.ConsumerPerSubscription = w.PartitionsPerTopic // one partition each: the stall holds up one partition only
		res, err := newTestRunner(t).Run(t.Context(), w, memory.New(memory.Config{Faults: memory.Faults{Stall: stall}}))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Pauses) != 1 || res.Pauses[0].Partition != stalled.Load() || res.Pauses[0].Duration < 1 || res.Pauses[0].Duration > 1.01 {
			t.Fatalf("pauses %+v; want one of 1 s on partition %d", res.Pauses, stalled.Load())
		}
		if c := res.Counts; c.Lost != 0 || c.Received < c.Acked {
			t.Errorf("a stall lost messages: %+v", c)
		}
	})
}

// TestChurnRebalances: consumers leaving and rejoining every 600 ms (both
// gracefully and by crashing) rebalance the subscription each time, and
// still nothing acknowledged is lost; a crash may deliver again what the
// crashed consumer held, a graceful leave may not.
func TestChurnRebalances(t *testing.T) {
	t.Parallel()
	for _, leave := range []string{"close", "crash"} {
		t.Run(leave, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := smallWorkload("churn")
				w.Churn = &workloads.Churn{Interval: 600 * time.Millisecond, Leave: leave}
				w.Churn.Default()
				res, err := newTestRunner(t).Run(t.Context(), w, memory.New(memory.Config{}))
				if err != nil {
					t.Fatal(err)
				}
				c := res.Counts
				// A change every 600 ms: at least three fall in the measured
				// 2 s, each a burst of revocations and assignments apart
				// from the others by more than rebalanceGap.
				if c.Lost != 0 || c.Rebalances < 3 || c.Unexpected != 0 {
					t.Errorf("counts %+v; want nothing lost and a rebalance per membership change", c)
				}
				if leave == "close" && c.Duplicates != 0 {
					t.Errorf("%d duplicates after graceful leaves, which commit what they handled", c.Duplicates)
				}
			})
		})
	}
}
