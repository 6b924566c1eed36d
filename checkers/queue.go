package checkers

import (
	"context"
	"fmt"
	"math"

	"github.com/brokerbench/brokerbench/checkers/history"
)

// delivery is one dequeue ok, in history order.
type delivery struct {
	value int64
	time  int64
	key   int32
	proc  int32
	line  int32
	first bool // the value's first delivery
	// settled: an ack, nack or reject of the value followed this delivery
	// (before its next delivery).
	settled bool
	// dead: the value had been rejected (dead-lettered) to this delivery's
	// queue, or to an unnamed destination, before it.
	dead bool
}

// queueInfo is what the FIFO check needs to know about one queue.
type queueInfo struct {
	name      string
	consumer  int32 // the one consumer process, or -1
	consumers int   // distinct consumer processes seen (capped at 2)
	nacked    bool
}

// queueChecker checks queue-model histories with Jepsen's total-queue
// semantics: every confirmed enqueue is dequeued at least once, nothing is
// dequeued that was not enqueued, and a value is delivered once unless a
// nack returned it.
type queueChecker struct {
	name      string
	keys      map[string]int32
	queues    []*queueInfo
	opTable   // enqueues, by value
	dels      []delivery
	delivered map[int64]int32 // deliveries per value
	credit    map[int64]int32 // nacks not yet followed by a redelivery
	extra     map[int64]int32 // deliveries beyond the first not licensed by a nack or a reject
	last      map[int64]int32 // the value's last delivery, an index into dels
	acked     map[int64]bool  // some delivery of the value was acked
	// rejected maps a rejected value to its dead-letter destination ("":
	// not named, any queue) while a delivery from there is still licensed;
	// wasRejected keeps every rejected value.
	rejected    map[int64]string
	wasRejected map[int64]bool
	crashed     map[int32]bool // processes whose deliveries were abandoned (dequeue info)
}

func newQueueChecker(name string) *queueChecker {
	return &queueChecker{name: name, keys: map[string]int32{}, opTable: newOpTable("enqueue", "queue"),
		delivered: map[int64]int32{}, credit: map[int64]int32{}, extra: map[int64]int32{}, last: map[int64]int32{},
		acked: map[int64]bool{}, rejected: map[int64]string{}, wasRejected: map[int64]bool{}, crashed: map[int32]bool{}}
}

func (c *queueChecker) key(k string) int32 {
	id, ok := c.keys[k]
	if !ok {
		id = int32(len(c.queues))
		c.keys[k] = id
		c.queues = append(c.queues, &queueInfo{name: k, consumer: -1})
	}
	return id
}

func (c *queueChecker) add(e *history.Event) error {
	switch e.F {
	case history.Enqueue:
		if e.Type == history.Invoke {
			return c.invokeEnqueue(e)
		}
		return c.completeEnqueue(e)
	case history.Dequeue:
		switch e.Type {
		case history.OK:
			c.dequeue(e)
		case history.Info:
			c.crash(int32(e.Process))
		}
	case history.Ack, history.Nack, history.Reject:
		if e.Type == history.OK {
			c.settle(e)
		}
	}
	return nil
}

// crash records that process p crashed: what it held unsettled returns to
// the queue, as after a nack, so one redelivery of each is expected and a
// missing one is a loss.
func (c *queueChecker) crash(p int32) {
	if c.crashed[p] {
		return
	}
	c.crashed[p] = true
	for v, i := range c.last {
		if d := &c.dels[i]; d.proc == p && !d.settled {
			c.credit[v]++
		}
	}
}

// settle applies an ack, nack or reject of a delivered value.
func (c *queueChecker) settle(e *history.Event) {
	if i, ok := c.last[e.Value]; ok {
		c.dels[i].settled = true
	}
	switch e.F {
	case history.Ack:
		c.acked[e.Value] = true
	case history.Nack:
		c.credit[e.Value]++
		if q := c.queueOf(e); q >= 0 {
			c.queues[q].nacked = true
		}
	case history.Reject:
		c.rejected[e.Value] = e.DeadLetter
		c.wasRejected[e.Value] = true
	}
}

// queueOf returns the queue a nack concerns: its key, else the queue the
// value was enqueued to.
func (c *queueChecker) queueOf(e *history.Event) int32 {
	if e.Key != "" {
		return c.key(e.Key)
	}
	if i, ok := c.byValue[e.Value]; ok {
		return c.ops[i].key
	}
	return -1
}

func (c *queueChecker) invokeEnqueue(e *history.Event) error {
	return c.invoke(c.name, e, c.key(e.Key))
}

func (c *queueChecker) completeEnqueue(e *history.Event) error {
	return c.complete(c.name, e, func(k int32) string { return c.queues[k].name })
}

func (c *queueChecker) dequeue(e *history.Event) {
	q := c.key(e.Key)
	qi := c.queues[q]
	switch {
	case qi.consumers == 0:
		qi.consumer, qi.consumers = int32(e.Process), 1
	case qi.consumer != int32(e.Process):
		qi.consumers = 2
	}
	n := c.delivered[e.Value] + 1
	c.delivered[e.Value] = n
	dl, rejected := c.rejected[e.Value]
	dead := rejected && (dl == "" || dl == e.Key)
	switch {
	case n == 1:
	case c.credit[e.Value] > 0:
		c.credit[e.Value]--
	case dead:
		delete(c.rejected, e.Value) // one delivery from the dead-letter destination
	default:
		c.extra[e.Value]++
	}
	c.last[e.Value] = int32(len(c.dels))
	c.dels = append(c.dels, delivery{value: e.Value, time: e.Time, key: q, proc: int32(e.Process), line: int32(e.Line), first: n == 1, dead: dead})
}

func (c *queueChecker) finish(_ context.Context, r *report) error {
	st := &r.v.Stats
	st.Keys, st.Sends, st.Delivered = len(c.queues), len(c.ops), len(c.dels)
	for i := range c.ops {
		s := &c.ops[i]
		switch s.status {
		case acked:
			st.Acked++
			c.checkLost(s, r)
		case failed:
			st.Failed++
		default:
			st.Indefinite++
		}
	}
	c.checkDelivered(r)
	c.checkDuplicated(r)
	for q := range c.queues {
		c.checkFIFO(int32(q), r)
	}
	return nil
}

// checkLost judges a confirmed enqueue by acknowledgement: it is lost
// unless some delivery of it was acked, it was rejected (dead-lettered), or
// its last delivery is still in flight at the end of the history (held by
// a consumer that did not crash, and not settled).
func (c *queueChecker) checkLost(s *sendOp, r *report) {
	v := s.value
	q := c.queues[s.key].name
	if c.acked[v] || c.wasRejected[v] {
		return
	}
	ex := Example{Key: q, Values: []int64{v}, Processes: []int{int(s.proc)},
		Times: []int64{s.invoke, s.complete}, Lines: []int{int(s.line), int(s.doneLine)}}
	i, delivered := c.last[v]
	switch {
	case !delivered:
		ex.Detail = fmt.Sprintf("%s value %d confirmed at t=%d (line %d) never dequeued", q, v, s.complete, s.doneLine)
	case !c.dels[i].settled && !c.crashed[c.dels[i].proc]:
		return // in flight at the end
	case c.dels[i].settled:
		d := c.dels[i]
		ex.Lines = append(ex.Lines, int(d.line))
		ex.Detail = fmt.Sprintf("%s value %d confirmed (line %d) was returned to the queue after its delivery at line %d and never redelivered", q, v, s.doneLine, d.line)
	default:
		d := c.dels[i]
		ex.Lines = append(ex.Lines, int(d.line))
		ex.Detail = fmt.Sprintf("%s value %d confirmed (line %d) was delivered to process %d at line %d, which crashed before acking it; never redelivered", q, v, s.doneLine, d.proc, d.line)
	}
	r.add("lost", ex)
}

// checkDelivered classifies each value's first delivery by its enqueue, and
// finds deliveries from a queue the value was never enqueued or
// dead-lettered to.
func (c *queueChecker) checkDelivered(r *report) {
	misplaced := map[int64]bool{}
	for _, d := range c.dels {
		q := c.queues[d.key].name
		ex := Example{Key: q, Values: []int64{d.value}, Processes: []int{int(d.proc)}, Times: []int64{d.time}, Lines: []int{int(d.line)}}
		i, ok := c.byValue[d.value]
		if ok && c.ops[i].key != d.key && !d.dead && !misplaced[d.value] {
			misplaced[d.value] = true
			r.add("unexpected", Example{Key: q, Values: []int64{d.value}, Processes: []int{int(d.proc)}, Times: []int64{d.time},
				Lines:  []int{int(d.line), int(c.ops[i].line)},
				Detail: fmt.Sprintf("process %d dequeued value %d from %s at t=%d (line %d), but it was enqueued to %s (line %d) and not dead-lettered to %s before", d.proc, d.value, q, d.time, d.line, c.queues[c.ops[i].key].name, c.ops[i].line, q)})
		}
		if !d.first {
			continue
		}
		if !ok {
			ex.Detail = fmt.Sprintf("process %d dequeued value %d from %s at t=%d (line %d), never enqueued", d.proc, d.value, q, d.time, d.line)
			r.add("unexpected", ex)
			continue
		}
		s := &c.ops[i]
		switch s.status {
		case failed:
			ex.Lines = append(ex.Lines, int(s.doneLine))
			ex.Detail = fmt.Sprintf("process %d dequeued value %d from %s at t=%d (line %d), but its enqueue failed (line %d)", d.proc, d.value, q, d.time, d.line, s.doneLine)
			r.add("aborted-read", ex)
		case unsure, pending:
			ex.Lines = append(ex.Lines, int(s.line))
			ex.Detail = fmt.Sprintf("value %d, enqueued with an unknown outcome (line %d), was dequeued from %s (line %d)", d.value, s.line, q, d.line)
			r.add("recovered", ex)
		}
	}
}

func (c *queueChecker) checkDuplicated(r *report) {
	if len(c.extra) == 0 {
		return
	}
	lines := map[int64][]int{}
	for _, d := range c.dels {
		if c.extra[d.value] > 0 {
			lines[d.value] = append(lines[d.value], int(d.line))
		}
	}
	// Report in history order of the first delivery, for stable examples.
	for _, d := range c.dels {
		if !d.first || c.extra[d.value] == 0 {
			continue
		}
		l := lines[d.value]
		r.add("duplicated", Example{Key: c.queues[d.key].name, Values: []int64{d.value}, Lines: l,
			Detail: fmt.Sprintf("value %d delivered %d times (lines %v), %d without a nack", d.value, len(l), l, c.extra[d.value])})
	}
}

// checkFIFO checks one queue's order when it promises one: a single consumer
// process and no nack. B dequeued before A although A was confirmed before
// B's enqueue was invoked is fifo-order. Scanning first deliveries backwards
// with the earliest confirmation among later deliveries finds every B.
func (c *queueChecker) checkFIFO(q int32, r *report) {
	qi := c.queues[q]
	if qi.consumers != 1 || qi.nacked {
		return
	}
	var seq []delivery
	for _, d := range c.dels {
		if d.key == q && d.first {
			if i, ok := c.byValue[d.value]; ok && c.ops[i].key == q && c.ops[i].status != failed {
				seq = append(seq, d)
			}
		}
	}
	earliest, at := int64(math.MaxInt64), int32(-1)
	for k := len(seq) - 1; k >= 0; k-- {
		b := &c.ops[c.byValue[seq[k].value]]
		if earliest < b.invoke {
			a := &c.ops[at]
			r.add("fifo-order", Example{Key: qi.name, Values: []int64{a.value, b.value}, Processes: []int{int(qi.consumer)},
				Times: []int64{a.complete, b.invoke}, Lines: []int{int(a.doneLine), int(b.line)},
				Detail: fmt.Sprintf("%s value %d dequeued (line %d) before value %d, though %d was confirmed (t=%d, line %d) before %d was enqueued (t=%d, line %d)",
					qi.name, b.value, seq[k].line, a.value, a.value, a.complete, a.doneLine, b.value, b.invoke, b.line)})
		}
		if b.status == acked && b.complete < earliest {
			earliest, at = b.complete, c.byValue[seq[k].value]
		}
	}
}
