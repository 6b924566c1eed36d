package runner

import (
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/workloads"
)

// Queue mode (workloads.Queue): consumers decide per delivery whether to
// accept it, release it for redelivery, or, for poison messages, release it
// until the system's delivery limit dead-letters it. Which messages are
// released or poison is a pure function of the message, so every system
// sees the same ones and the runner knows, at the end, which acknowledged
// messages were never meant to be accepted.

// unit maps a message to a number in [0, 1) for share decisions, with a
// salt per decision so that "released once" and "poison" are independent.
func unit(producer uint32, seq uint64, salt uint64) float64 {
	x := uint64(producer)<<40 ^ seq ^ salt
	// splitmix64 finaliser: a fixed, well-mixed hash.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

const (
	saltPoison  = 0x706f69736f6e
	saltRelease = 0x72656c65617365
)

// isPoison reports whether a message can never be processed.
func isPoison(q *workloads.Queue, producer uint32, seq uint64) bool {
	return q != nil && q.Poison > 0 && unit(producer, seq, saltPoison) < q.Poison
}

// decide returns the disposition of a delivery: poison messages are always
// released; a Release share of the others is released on its first
// delivery; everything else is accepted.
func decide(q *workloads.Queue, h header, first bool) adapters.Disposition {
	switch {
	case isPoison(q, h.producer, h.seq):
		return adapters.Release
	case first && q.Release > 0 && unit(h.producer, h.seq, saltRelease) < q.Release:
		return adapters.Release
	}
	return adapters.Accept
}

// queueState is a subscription's queue-mode bookkeeping. Guarded by the
// subscription's mutex.
type queueState struct {
	delivered []bitset  // per producer: delivered at least once
	lastAt    [][]int64 // per producer, per seq: ns of the last delivery
}

func newQueueState(producers int) *queueState {
	return &queueState{delivered: make([]bitset, producers), lastAt: make([][]int64, producers)}
}

// delivery notes a delivery at now and returns whether it was the first
// of this message, and, if not, how long since the previous one.
func (qs *queueState) delivery(h header, now int64) (first bool, sincePrev time.Duration) {
	first = !qs.delivered[h.producer].set(h.seq)
	times := qs.lastAt[h.producer]
	if h.seq >= uint64(len(times)) {
		grown := make([]int64, max(int(h.seq)+1, 2*len(times)))
		copy(grown, times)
		times = grown
		qs.lastAt[h.producer] = times
	}
	if !first {
		sincePrev = time.Duration(now - times[h.seq])
	}
	times[h.seq] = now
	return first, sincePrev
}

// handleQueue is the queue-mode part of consumer.handle: it simulates the
// work, decides the disposition, and counts releases and redeliveries. It
// returns false when the delivery was released, so that it is not counted
// as received.
func (c *consumer) handleQueue(d *adapters.Delivery, h header, now int64) (accepted bool) {
	s := c.sub
	q := s.run.w.Queue
	if q.Processing > 0 {
		// The simulated work of a queue consumer: part of the workload,
		// not a synchronisation.
		time.Sleep(q.Processing)
	}
	s.mu.Lock()
	first, since := s.queue.delivery(h, now)
	s.mu.Unlock()
	seenHere := !first
	if s.run.plan.Segment.Distributed() && d.Redelivered {
		// Another shard's consumer may have had it first: only the
		// system knows (docs/distributed.md). Without this, each shard
		// would release a "release once" message again.
		first = false
	}
	if !first {
		s.redelivered.Add(1)
	}
	if seenHere {
		c.redeliveryDelay.Record(since)
	}
	d.Disposition = decide(q, h, first)
	if d.Disposition == adapters.Release {
		s.released.Add(1)
		return false
	}
	return true
}
