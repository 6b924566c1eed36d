package checkers

import (
	"fmt"
	"math"
)

// Polls constrain sends as acknowledgements do: a poll that completed at
// time t returning offset O shows that O existed at t. In an append-only
// log nothing can then be appended below O, and a value cannot be in the
// log before its send was invoked. The checks in this file use both facts,
// as Elle's realtime constraints do for Kafka.

// obsTime returns when an observation completed: its poll's time or its
// send's acknowledgement.
func (c *logChecker) obsTime(o obs) int64 {
	if o.src >= 0 {
		return c.recs[o.src].time
	}
	return c.ops[-o.src-1].complete
}

// sentAt returns when the send of v to partition p was invoked; false when
// v was never sent to p (an unexpected value, which cannot be timed).
func (c *logChecker) sentAt(p *partition, v int64) (int64, bool) {
	i, ok := c.byValue[v]
	if !ok || c.ops[i].key != p.id {
		return 0, false
	}
	return c.ops[i].invoke, true
}

// futureRead reports a poll that returned v before v's send was invoked:
// the broker served a value it had not been given (a reused topic, a
// previous incarnation's data). o is the value's earliest such poll.
func (c *logChecker) futureRead(p *partition, o obs, invoke int64, r *report) {
	rec := c.recs[o.src]
	s := &c.ops[c.byValue[o.value]]
	r.add("future-read", Example{Key: p.name, Values: []int64{o.value}, Offsets: []int64{o.offset}, Processes: []int{int(rec.proc), int(s.proc)},
		Times: []int64{rec.time, invoke}, Lines: []int{int(rec.line), int(s.line)},
		Detail: fmt.Sprintf("process %d polled %s offset %d value %d at t=%d (line %d), before its send was invoked at t=%d (line %d)",
			rec.proc, p.name, o.offset, o.value, rec.time, rec.line, invoke, s.line)})
}

// earliestObs is the observation that completed first among a set.
type earliestObs struct {
	time int64
	o    obs
}

// checkRealtimeOffsets finds realtime-offset: offset A was observed (polled,
// or acknowledged) before the send of value B was invoked, yet B is at an
// offset below A (polled there, or acknowledged there). The pair where both
// observations are acknowledgements is realtime-order's; every other pair
// is reported here, once per value B. Walking observations by descending
// offset with the earliest completion among strictly higher offsets finds
// every B in O(n log n).
func (c *logChecker) checkRealtimeOffsets(p *partition, r *report) {
	none := earliestObs{time: math.MaxInt64}
	anyObs, pollObs := none, none
	var flagged map[int64]bool
	for j := len(p.obs); j > 0; {
		i := j - 1
		for i > 0 && p.obs[i-1].offset == p.obs[j-1].offset {
			i--
		}
		for _, b := range p.obs[i:j] {
			invoke, sent := c.sentAt(p, b.value)
			a := pollObs
			if b.src >= 0 {
				a = anyObs
			}
			if !sent || a.time >= invoke || flagged[b.value] {
				continue
			}
			if flagged == nil {
				flagged = map[int64]bool{}
			}
			flagged[b.value] = true
			c.realtimeOffset(p, a, b, invoke, r)
		}
		for _, o := range p.obs[i:j] {
			t := c.obsTime(o)
			if t < anyObs.time {
				anyObs = earliestObs{t, o}
			}
			if o.src >= 0 && t < pollObs.time {
				pollObs = earliestObs{t, o}
			}
		}
		j = i
	}
}

func (c *logChecker) realtimeOffset(p *partition, a earliestObs, b obs, invoke int64, r *report) {
	how := func(o obs) string {
		if o.src >= 0 {
			return fmt.Sprintf("polled by process %d", c.recs[o.src].proc)
		}
		return "acknowledged"
	}
	s := &c.ops[c.byValue[b.value]]
	r.add("realtime-offset", Example{Key: p.name, Values: []int64{a.o.value, b.value}, Offsets: []int64{a.o.offset, b.offset},
		Processes: []int{int(s.proc)}, Times: []int64{a.time, invoke}, Lines: []int{c.srcLine(a.o), int(s.line), c.srcLine(b)},
		Detail: fmt.Sprintf("%s offset %d was %s (value %d, t=%d, line %d) before value %d was sent (t=%d, line %d), yet value %d is %s at lower offset %d (line %d)",
			p.name, a.o.offset, how(a.o), a.o.value, a.time, c.srcLine(a.o), b.value, invoke, s.line, b.value, how(b), b.offset, c.srcLine(b))})
}

// minTree answers range-minimum queries over a fixed slice in O(log n): a
// segment tree with leaves at [n, 2n).
type minTree []int64

func newMinTree(v []int64) minTree {
	n := len(v)
	t := make(minTree, 2*n)
	copy(t[n:], v)
	for i := n - 1; i > 0; i-- {
		t[i] = min(t[2*i], t[2*i+1])
	}
	return t
}

// min returns the least value at positions [lo, hi), or math.MaxInt64 when
// the range is empty.
func (t minTree) min(lo, hi int) int64 {
	n := len(t) / 2
	m := int64(math.MaxInt64)
	for lo, hi = lo+n, hi+n; lo < hi; lo, hi = lo>>1, hi>>1 {
		if lo&1 == 1 {
			m = min(m, t[lo])
			lo++
		}
		if hi&1 == 1 {
			hi--
			m = min(m, t[hi])
		}
	}
	return m
}
