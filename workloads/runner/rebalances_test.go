package runner

import (
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/results"
)

// TestCountRebalances: with group generations, a static member's restart
// (revoked, then assigned in the same generation) is no rebalance, and
// each new generation in the measured phase is one; without generations,
// bursts of assignment changes count.
func TestCountRebalances(t *testing.T) {
	t.Parallel()
	ev := func(kind, consumer string, gen int32) results.Event {
		return results.Event{Kind: kind, Consumer: consumer, Generation: gen}
	}
	t0 := time.Unix(1_700_000_000, 0)
	at := func(e results.Event, d time.Duration) results.Event { e.Time = t0.Add(d); return e }
	start := []results.Event{ev("assigned", "c0", 3), ev("assigned", "c1", 3), ev("measure-start", "", 0)}
	for _, tc := range []struct {
		name   string
		events []results.Event
		want   int64
	}{
		{"static restart, same generation", append(start[:3:3],
			ev("revoked", "c0", 0), ev("consumer-leave", "c0", 0), ev("consumer-join", "c0", 0), ev("assigned", "c0", 3),
			ev("producers-stopped", "", 0), ev("revoked", "c0", 0), ev("revoked", "c1", 0)), 0},
		{"dynamic restart, new generations", append(start[:3:3],
			ev("revoked", "c0", 0), ev("assigned", "c1", 4), ev("assigned", "c0", 5), ev("assigned", "c1", 5),
			ev("producers-stopped", "", 0), ev("assigned", "c1", 6)), 2},
		{"no generations: one burst", []results.Event{ev("assigned", "c0", 0), ev("measure-start", "", 0),
			at(ev("revoked", "c0", 0), 0), at(ev("assigned", "c0", 0), 100*time.Millisecond), ev("producers-stopped", "", 0)}, 1},
	} {
		if got := countRebalances(tc.events); got != tc.want {
			t.Errorf("%s: %d rebalances, want %d", tc.name, got, tc.want)
		}
	}
}
