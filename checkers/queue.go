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
	extra     map[int64]int32 // deliveries beyond the first not licensed by a nack
}

func newQueueChecker(name string) *queueChecker {
	return &queueChecker{name: name, keys: map[string]int32{}, opTable: newOpTable("enqueue", "queue"),
		delivered: map[int64]int32{}, credit: map[int64]int32{}, extra: map[int64]int32{}}
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
		if e.Type == history.OK {
			c.dequeue(e)
		}
	case history.Nack:
		if e.Type == history.OK {
			c.credit[e.Value]++
			if q := c.queueOf(e); q >= 0 {
				c.queues[q].nacked = true
			}
		}
	}
	// Acks and rejects end a delivery; neither changes what was delivered.
	return nil
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
	if n > 1 {
		if c.credit[e.Value] > 0 {
			c.credit[e.Value]--
		} else {
			c.extra[e.Value]++
		}
	}
	c.dels = append(c.dels, delivery{value: e.Value, time: e.Time, key: q, proc: int32(e.Process), line: int32(e.Line), first: n == 1})
}

func (c *queueChecker) finish(_ context.Context, r *report) error {
	st := &r.v.Stats
	st.Keys, st.Sends, st.Delivered = len(c.queues), len(c.ops), len(c.dels)
	for i := range c.ops {
		s := &c.ops[i]
		switch s.status {
		case acked:
			st.Acked++
			if c.delivered[s.value] == 0 {
				r.add("lost", Example{Key: c.queues[s.key].name, Values: []int64{s.value}, Processes: []int{int(s.proc)},
					Times: []int64{s.invoke, s.complete}, Lines: []int{int(s.line), int(s.doneLine)},
					Detail: fmt.Sprintf("%s value %d confirmed at t=%d (line %d) never dequeued", c.queues[s.key].name, s.value, s.complete, s.doneLine)})
			}
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

// checkDelivered classifies each value's first delivery by its enqueue.
func (c *queueChecker) checkDelivered(r *report) {
	for _, d := range c.dels {
		if !d.first {
			continue
		}
		q := c.queues[d.key].name
		ex := Example{Key: q, Values: []int64{d.value}, Processes: []int{int(d.proc)}, Times: []int64{d.time}, Lines: []int{int(d.line)}}
		i, ok := c.byValue[d.value]
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
