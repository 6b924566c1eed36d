package runner

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/metrics"
)

// subscription tracks what one subscription of one topic has received:
// which (producer, sequence) pairs, in what order per partition, and when
// each partition last delivered. All its consumers share it.
type subscription struct {
	run      *run
	topicIdx int
	name     string
	// hist is the run's history recorder for the first subscription of
	// each topic, nil for the others: a history has one reader per
	// message, so a second subscription's deliveries would read as
	// duplicates and could hide the first's losses. The run's own counts
	// cover every subscription.
	hist *recorder

	mu         sync.Mutex
	seen       []bitset // per producer id
	last       []int64  // per partition*producers+producer: highest seq delivered, -1 none
	lastAt     []int64  // per partition: ns of the last delivery
	firstAt    []int64  // per partition: ns of the first measured delivery
	measured   []int64  // per partition: unique deliveries since measurement began
	recvPart   []int64  // per partition: unique deliveries
	probes     []bool   // per partition: readiness probe seen
	probesLeft int
	unique     int64
	pauses     []pauseRec

	received, duplicates, outOfOrder, unexpected atomic.Int64
	released, redelivered                        atomic.Int64

	queue *queueState // queue mode only; guarded by mu
}

type pauseRec struct {
	partition  int32
	start, end int64
}

// maxPauses bounds the pause list, so a pathological run cannot grow the
// result without limit; the count beyond it is still reported in events.
const maxPauses = 10000

func newSubscription(r *run, topicIdx int, name string, partitions, producers int) *subscription {
	s := &subscription{
		run: r, topicIdx: topicIdx, name: name,
		seen:       make([]bitset, producers),
		last:       make([]int64, partitions*producers),
		lastAt:     make([]int64, partitions),
		firstAt:    make([]int64, partitions),
		measured:   make([]int64, partitions),
		recvPart:   make([]int64, partitions),
		probes:     make([]bool, partitions),
		probesLeft: partitions,
	}
	for i := range s.last {
		s.last[i] = -1
	}
	if r.w.Queue != nil {
		s.queue = newQueueState(producers)
	}
	return s
}

// consumer is one running adapters.Consumer and its latency recorders.
type consumer struct {
	id         string
	instanceID string
	// generation is the group generation of the latest assignment, where
	// the system reports one (adapters.ConsumerConfig.OnGeneration).
	generation atomic.Int32
	sub        *subscription
	c          adapters.Consumer
	proc       int // history process of the current incarnation

	mu       sync.Mutex // guards assigned
	assigned map[int32]bool

	// endToEnd records, per delivery and under one lock, the kinds
	// kindEndToEnd (intended send -> receipt; queue mode: -> acceptance)
	// and kindEndToEndFromSend (actual send -> receipt), indexed from
	// kindEndToEnd.
	endToEnd        *metrics.Group
	redeliveryDelay *metrics.Latency // queue mode: previous delivery -> redelivery
}

// handle is the adapters.Handler of every consumer of sub.
func (c *consumer) handle(d *adapters.Delivery) {
	s := c.sub
	now := s.run.now()
	h, ok := s.run.parseDelivery(d)
	if !ok {
		s.unexpected.Add(1)
		return
	}
	if h.probe {
		s.mu.Lock()
		if !s.probes[d.Partition] {
			s.probes[d.Partition] = true
			s.probesLeft--
		}
		s.mu.Unlock()
		return
	}
	if hist := s.hist; hist != nil {
		hist.delivered(c.proc, s.run.topics[s.topicIdx].keys[d.Partition], d.Offset, messageValue(h.producer, h.seq))
	}
	if s.queue != nil {
		accepted := c.handleQueue(d, h, now)
		if hist := s.hist; hist != nil {
			v := messageValue(h.producer, h.seq)
			if d.Disposition == adapters.Accept && s.deferAcks() {
				d.Ref = uint64(v) // the ack is recorded by OnAcked (acks.go)
			} else {
				hist.disposed(c.proc, s.run.topics[s.topicIdx].keys[d.Partition], v, d, maxDeliveries(s.run.w.Queue))
			}
		}
		if !accepted {
			return
		}
	}
	s.received.Add(1)
	// The header's times are on the sending process's clock: a message of
	// another shard's producer is counted but not timed (docs/distributed.md).
	if s.run.byID[h.producer] != nil {
		c.endToEnd.Record(time.Duration(now-h.intended), time.Duration(now-h.sent))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[h.producer].set(h.seq) {
		s.duplicates.Add(1)
		return
	}
	s.unique++
	p := int(d.Partition)
	s.recvPart[p]++
	k := p*len(s.seen) + int(h.producer)
	if int64(h.seq) < s.last[k] {
		s.outOfOrder.Add(1)
	} else {
		s.last[k] = int64(h.seq)
	}
	s.notePause(p, now)
}

// parseDelivery returns the header of a delivery of this run. A header is
// trusted only as far as it names a message the run sent: a corrupted or
// foreign one gives false (counted as unexpected), never an index past
// what was sent.
func (r *run) parseDelivery(d *adapters.Delivery) (header, bool) {
	h, ok := parseHeader(d.Value)
	if !ok || d.Partition < 0 || int(d.Partition) >= r.w.PartitionsPerTopic || int(h.producer) >= len(r.byID) ||
		!h.probe && r.byID[h.producer] != nil && h.seq >= uint64(r.byID[h.producer].sent.Load()) {
		return header{}, false
	}
	return h, true
}

// notePause records a pause when partition p delivered nothing for much
// longer than its usual gap: at least minPause, and twenty times the mean
// gap measured so far, so a slow partition of a skewed workload is not
// mistaken for a stalled one. Caller holds s.mu.
func (s *subscription) notePause(p int, now int64) {
	measureFrom := s.run.measureStart.Load()
	if measureFrom == 0 || now < measureFrom {
		s.lastAt[p] = now
		return
	}
	if s.firstAt[p] == 0 {
		s.firstAt[p] = now
	}
	s.measured[p]++
	prev := s.lastAt[p]
	s.lastAt[p] = now
	// The mean gap is over measured deliveries only: warm-up deliveries
	// before firstAt would shrink it and turn ordinary gaps into pauses.
	if prev < measureFrom || s.measured[p] < 3 {
		return
	}
	gap := now - prev
	mean := (prev - s.firstAt[p]) / (s.measured[p] - 2)
	threshold := max(int64(minPause), 20*mean)
	if gap > threshold && len(s.pauses) < maxPauses {
		s.pauses = append(s.pauses, pauseRec{partition: int32(p), start: prev, end: now})
	}
}

// minPause is the shortest gap reported as a consumption pause.
const minPause = 250 * time.Millisecond

// ready reports whether this subscription has received the readiness probe
// of every partition.
func (s *subscription) ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.probesLeft == 0
}

// missingProbes lists partitions whose probe has not arrived.
func (s *subscription) missingProbes() []int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int32
	for p, ok := range s.probes {
		if !ok {
			out = append(out, int32(p))
		}
	}
	return out
}

// lost counts messages acknowledged by producers of this topic but never
// received by this subscription.
func (s *subscription) lost(producers []*producer) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, pr := range producers {
		if pr.topicIdx != s.topicIdx {
			continue
		}
		pr.mu.Lock()
		n += s.seen[pr.id].missing(&pr.acked) - pr.poisonAcked.Load()
		pr.mu.Unlock()
	}
	return n
}

// uniqueReceived is the number of distinct messages received.
func (s *subscription) uniqueReceived() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unique
}

// reassign applies an assignment change and records the consumer's whole
// assignment in the history.
func (c *consumer) reassign(r *run, ps []int32, add bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps {
		if add {
			c.assigned[p] = true
		} else {
			delete(c.assigned, p)
		}
	}
	if c.sub.hist == nil {
		return
	}
	keys := make([]string, 0, len(c.assigned))
	for p := range c.assigned {
		keys = append(keys, r.topics[c.sub.topicIdx].keys[p])
	}
	slices.Sort(keys)
	c.sub.hist.assigned(c.proc, c.sub.name, keys)
}

// abandoned records, for a queue-mode subscription, that c's current
// incarnation ended without settling what it held. Only queue mode
// records each delivery's ack, nack or reject; elsewhere the adapter acks
// behind the handler's back, so a crash cannot be told from an unsettled
// delivery and none is recorded.
func (c *consumer) abandoned() {
	if c.sub.queue != nil {
		c.sub.hist.crashed(c.proc)
	}
}

// start creates the adapter consumer for c: a new incarnation, with a new
// history process and an empty assignment.
func (c *consumer) start(ctx context.Context, r *run) error {
	c.mu.Lock()
	c.proc = r.hist.newProcess()
	c.assigned = map[int32]bool{}
	c.mu.Unlock()
	cfg := r.consumerConfig(c)
	ac, err := r.sys.NewConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	c.c = ac
	r.supervise(c, ac)
	return nil
}
