package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// producer sends into the system; it is safe for concurrent use.
type producer struct {
	s      *System
	mu     sync.Mutex
	closed bool
}

// NewProducer returns a producer; its sends complete before Send returns.
func (s *System) NewProducer(context.Context, adapters.ProducerConfig) (adapters.Producer, error) {
	return &producer{s: s}, nil
}

func (p *producer) Send(_ context.Context, m *adapters.Message, done func(adapters.SendResult, error)) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		done(adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send to %q: producer %w", m.Topic, adapters.ErrClosed))
		return
	}
	res, err := p.s.store(m)
	done(res, err)
}

// store applies the faults to m and appends it.
func (s *System) store(m *adapters.Message) (adapters.SendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.topic(m.Topic)
	if err != nil {
		return adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send: %w", err)
	}
	if m.Partition < 0 || int(m.Partition) >= len(t.parts) {
		return adapters.SendResult{Partition: m.Partition, Offset: -1},
			fmt.Errorf("send to %q partition %d of %d: %w", m.Topic, m.Partition, len(t.parts), adapters.ErrBadPartition)
	}
	p := t.parts[m.Partition]
	r := record{key: slices.Clone(m.Key), value: slices.Clone(m.Value), offset: int64(len(p.log))}
	f := s.cfg.Faults
	if f.Stall != nil {
		r.stall = f.Stall(m)
	}
	switch {
	case f.Lose != nil && f.Lose(m):
		return adapters.SendResult{Partition: m.Partition, Offset: r.offset}, nil
	case f.Reorder != nil && f.Reorder(m) && p.held == nil:
		p.held = &r
		return adapters.SendResult{Partition: m.Partition, Offset: r.offset}, nil
	}
	p.appendLocked(r)
	if f.Duplicate != nil && f.Duplicate(m) {
		p.log = append(p.log, r)
	}
	s.broadcastLocked()
	return adapters.SendResult{Partition: m.Partition, Offset: r.offset}, nil
}

// Flush stores the messages the Reorder fault holds back.
func (p *producer) Flush(context.Context) error {
	p.s.releaseHeld()
	return nil
}

func (p *producer) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return p.Flush(ctx)
}

// consumer delivers its partitions of a subscription from one goroutine.
type consumer struct {
	s       *System
	cfg     adapters.ConsumerConfig
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	crashed atomic.Bool // a crashed consumer commits nothing more
}

// NewConsumer joins cfg.Subscription, rebalancing its partitions, and
// starts delivering.
func (s *System) NewConsumer(_ context.Context, cfg adapters.ConsumerConfig) (adapters.Consumer, error) {
	if cfg.Handler == nil {
		return nil, fmt.Errorf("new consumer %q: ConsumerConfig.Handler is nil", cfg.ID)
	}
	if cfg.Queue {
		return nil, fmt.Errorf("new consumer %q: queue: %w: the in-memory system is a log", cfg.ID, adapters.ErrNotApplicable)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.topic(cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("new consumer %q: %w", cfg.ID, err)
	}
	if cfg.Partitions != 0 && cfg.Partitions != len(t.parts) {
		return nil, fmt.Errorf("new consumer %q: topic %q has %d partitions, not %d: %w", cfg.ID, cfg.Topic, len(t.parts), cfg.Partitions, adapters.ErrTopicMismatch)
	}
	sub, ok := t.subs[cfg.Subscription]
	if !ok {
		sub = &subscription{next: make([]int64, len(t.parts))}
		if cfg.Start == adapters.StartLatest {
			for p, part := range t.parts {
				sub.next[p] = int64(len(part.log))
			}
		}
		t.subs[cfg.Subscription] = sub
	}
	c := &consumer{s: s, cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	sub.consumers = append(sub.consumers, c)
	s.broadcastLocked()
	go c.loop()
	return c, nil
}

// loop delivers until stopped: it follows the assignment, reads the next
// record of each owned partition, and waits for a change when there is
// none.
func (c *consumer) loop() {
	defer close(c.done)
	var owned []int32
	for {
		ps, batch, changed, ok := c.poll()
		if !ok {
			c.reassign(owned, nil)
			return
		}
		c.reassign(owned, ps)
		owned = ps
		for _, d := range batch {
			if d.stall > 0 {
				select {
				case <-c.stop:
					c.reassign(owned, nil)
					return
				case <-time.After(d.stall):
				}
			}
			select {
			case <-c.stop:
				c.reassign(owned, nil)
				return
			default:
			}
			c.cfg.Handler(&d.Delivery)
			c.commit(d.Partition, d.Offset)
		}
		if len(batch) == 0 {
			select {
			case <-changed:
			case <-c.stop:
				c.reassign(owned, nil)
				return
			}
		}
	}
}

// delivery is a record on its way to the handler, with its Stall fault.
type delivery struct {
	adapters.Delivery
	stall time.Duration
}

// poll returns the current assignment, the next record of each owned
// partition, and the channel closed on the next change; ok is false once
// the topic is gone.
func (c *consumer) poll() (ps []int32, batch []delivery, changed <-chan struct{}, ok bool) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	t, err := c.s.topic(c.cfg.Topic)
	if err != nil {
		return nil, nil, nil, false
	}
	sub := t.subs[c.cfg.Subscription]
	ps = sub.assignment(c, len(t.parts))
	for _, p := range ps {
		log := t.parts[p].log
		if i := sub.next[p]; i < int64(len(log)) {
			r := log[i]
			batch = append(batch, delivery{adapters.Delivery{Topic: c.cfg.Topic, Partition: p, Offset: r.offset,
				Key: r.key, Value: r.value, DeliveryCount: 1, Disposition: adapters.Accept}, r.stall})
			log[i].stall = 0 // a stall happens once, not again on redelivery
		}
	}
	return ps, batch, c.s.changed, true
}

// commit moves the subscription past the delivered record of partition p,
// unless another consumer has moved it already (after a rebalance both may
// have delivered it: a duplicate, as on a real system).
// A commit that moved is reported to OnCommitted, outside the lock.
func (c *consumer) commit(p int32, offset int64) {
	if c.crashed.Load() {
		return
	}
	if c.moveNext(p, offset) && c.cfg.OnCommitted != nil {
		c.cfg.OnCommitted(map[int32]int64{p: offset + 1})
	}
}

func (c *consumer) moveNext(p int32, offset int64) bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	t, err := c.s.topic(c.cfg.Topic)
	if err != nil {
		return false
	}
	sub := t.subs[c.cfg.Subscription]
	log := t.parts[p].log
	if i := sub.next[p]; i < int64(len(log)) && log[i].offset == offset {
		sub.next[p]++
		return true
	}
	return false
}

// reassign reports the change from old to new through the callbacks.
func (c *consumer) reassign(old, new []int32) {
	var lost, gained []int32
	for _, p := range old {
		if !slices.Contains(new, p) {
			lost = append(lost, p)
		}
	}
	for _, p := range new {
		if !slices.Contains(old, p) {
			gained = append(gained, p)
		}
	}
	if len(lost) > 0 && c.cfg.OnRevoked != nil {
		c.cfg.OnRevoked(lost)
	}
	if len(gained) > 0 && c.cfg.OnAssigned != nil {
		c.cfg.OnAssigned(gained)
	}
}

// leave stops the loop and removes c from its subscription, which
// rebalances the others; it waits for the delivery in hand unless c
// crashed.
func (c *consumer) leave(crash bool) error {
	c.once.Do(func() {
		c.crashed.Store(crash)
		close(c.stop)
		if !crash {
			<-c.done
		}
		c.s.mu.Lock()
		defer c.s.mu.Unlock()
		if t, err := c.s.topic(c.cfg.Topic); err == nil {
			sub := t.subs[c.cfg.Subscription]
			sub.consumers = slices.DeleteFunc(sub.consumers, func(o *consumer) bool { return o == c })
		}
		c.s.broadcastLocked()
	})
	return nil
}

// Close leaves the subscription after the delivery in hand.
func (c *consumer) Close(context.Context) error { return c.leave(false) }

// Crash leaves at once, without waiting for a handler: the delivery in
// hand is never committed, so another consumer gets it again.
func (c *consumer) Crash() error { return c.leave(true) }
