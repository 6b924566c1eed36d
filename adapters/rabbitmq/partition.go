package rabbitmq

import (
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
)

// streamOffsetHeader is the header RabbitMQ puts on stream deliveries and
// the consume argument that says where to start; the library has no
// constant for it.
const streamOffsetHeader = "x-stream-offset"

// partConsumer consumes one partition queue on a channel of its own, so a
// multiple-ack covers only this partition and closing the channel returns
// exactly this partition's unacked deliveries to the broker.
type partConsumer struct {
	c          *consumer
	p          int32
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
	stop       chan struct{} // closed to revoke the partition
	exited     chan struct{} // closed when run returns

	// Owned by the run goroutine.
	lastTag    uint64   // delivery tag of the last handled, unacked delivery
	unacked    int      // handled deliveries not acked yet
	refs       []uint64 // Refs of the accepted ones among them, for OnAcked
	nextOffset int64    // streams: offset after the last handled delivery
}

// startPartition opens the channel, sets the prefetch and starts consuming.
func (c *consumer) startPartition(p int32) (*partConsumer, error) {
	ch, err := c.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if !c.autoAck {
		if err := ch.Qos(c.plan.Prefetch, 0, false); err != nil {
			return nil, fmt.Errorf("set prefetch %d: %w", c.plan.Prefetch, err)
		}
	}
	var args amqp.Table
	if c.stream {
		args = amqp.Table{streamOffsetHeader: c.streamStart(p)}
	}
	q := c.sys.queueName(c.cfg.Topic, c.cfg.Subscription, p)
	// Consumer tags are AMQP shortstrs (255 bytes); only uniqueness per
	// channel matters, and each partition has its own channel.
	tag := fmt.Sprintf("brokerbench-%.200s-%d", c.cfg.ID, p)
	deliveries, err := ch.Consume(q, tag, c.autoAck, false, false, false, args)
	if err != nil {
		if !ch.IsClosed() {
			_ = ch.Close()
		}
		return nil, fmt.Errorf("consume queue %q: %w", q, err)
	}
	return &partConsumer{
		c:          c,
		p:          p,
		ch:         ch,
		deliveries: deliveries,
		stop:       make(chan struct{}),
		exited:     make(chan struct{}),
		nextOffset: -1,
	}, nil
}

// streamStart is where a stream partition is read from: the subscription's
// committed offset, else the configured start position.
func (c *consumer) streamStart(p int32) any {
	if off, ok := c.g.Committed(p); ok {
		return off
	}
	if c.cfg.Start == adapters.StartLatest {
		return "next"
	}
	return "first"
}

// Stop implements localgroup.Worker: Run returns after the delivery in
// hand, acking what was handled.
func (pc *partConsumer) Stop() { close(pc.stop) }

// Exited implements localgroup.Worker.
func (pc *partConsumer) Exited() <-chan struct{} { return pc.exited }

// closeChannel closes the partition's channel, so the broker requeues
// what it holds unacked.
func (pc *partConsumer) closeChannel() error {
	if pc.ch.IsClosed() {
		return nil
	}
	return pc.ch.Close()
}

// Run implements localgroup.Worker: it hands deliveries to the Handler in
// order until the partition is revoked, the consumer crashes or the
// delivery channel closes (then the partition is lost).
func (pc *partConsumer) Run() {
	defer close(pc.exited)
	var tick <-chan time.Time
	if pc.c.cfg.Commit == adapters.CommitInterval {
		t := time.NewTicker(pc.c.cfg.CommitInterval)
		defer t.Stop()
		tick = t.C
	}
	d := adapters.Delivery{Topic: pc.c.cfg.Topic, Partition: pc.p}
	for {
		// Check stop first: select picks at random among ready cases, and
		// a revoked partition should not take more work.
		select {
		case <-pc.stop:
			pc.ackHandled()
			return
		default:
		}
		select {
		case <-pc.stop:
			pc.ackHandled()
			return
		case <-tick:
			pc.ackHandled()
		case m, ok := <-pc.deliveries:
			if !ok {
				if !pc.c.crashed.Load() {
					pc.ackHandled()
					pc.c.Lost(pc.p, pc, pc.closeReason())
				}
				return
			}
			if pc.c.crashed.Load() {
				return
			}
			pc.handle(&d, &m)
		}
	}
}

// closeReason explains why the delivery channel closed.
func (pc *partConsumer) closeReason() error {
	if pc.ch.IsClosed() {
		return fmt.Errorf("channel closed: %w", adapters.ErrClosed)
	}
	return errors.New("consumer cancelled by the broker (queue deleted?)")
}

// handle fills d from m, calls the Handler and settles m per its
// Disposition and the commit mode.
func (pc *partConsumer) handle(d *adapters.Delivery, m *amqp.Delivery) {
	c := pc.c
	d.Offset = -1
	d.Key = nil
	if k, ok := m.Headers[keyHeader].([]byte); ok {
		d.Key = k
	}
	d.Value = m.Body
	d.Redelivered = m.Redelivered
	d.DeliveryCount = c.deliveryCount(m)
	d.Disposition = adapters.Accept // d is reused: clear the last decision
	d.Ref = 0
	if c.stream {
		if off, ok := m.Headers[streamOffsetHeader].(int64); ok {
			d.Offset = off
			pc.nextOffset = off + 1
		}
		if c.cfg.Commit == adapters.CommitAuto {
			// At-most-once like auto-ack: committed before handling.
			pc.lastTag, pc.unacked = m.DeliveryTag, 1
			pc.ackHandled()
		}
	}
	c.cfg.Handler(d)
	if c.crashed.Load() {
		return
	}
	if d.Disposition != adapters.Accept && pc.settle(d.Disposition, m.DeliveryTag) {
		return
	}
	if c.autoAck || (c.stream && c.cfg.Commit == adapters.CommitAuto) {
		if c.autoAck && c.cfg.OnAcked != nil {
			pc.refs = append(pc.refs[:0], d.Ref)
			pc.reportAcked() // acked by the broker on delivery
		}
		return
	}
	pc.lastTag = m.DeliveryTag
	pc.unacked++
	if c.cfg.OnAcked != nil {
		pc.refs = append(pc.refs, d.Ref)
	}
	// Ack at once in sync mode; in interval mode on the tick, or earlier
	// when the plan's share of the prefetch window is handled.
	if pc.unacked >= c.plan.AckEvery {
		pc.ackHandled()
	}
}

// settle applies a Release (nack with requeue) or Reject (reject without
// requeue, so the queue dead-letters it if it has a dead-letter exchange)
// at once, reporting whether it did. It cannot when the message was acked
// on receipt (CommitAuto) or comes from a stream, which has no nack; nor
// for an unknown Disposition value. Then it records ErrDisposition, once
// per consumer, and the delivery counts as accepted.
//
// Settling one tag leaves the handled-but-unacked deliveries before it to
// the next multiple-ack, which skips tags already settled.
func (pc *partConsumer) settle(disp adapters.Disposition, tag uint64) bool {
	c := pc.c
	var err error
	switch {
	case disp != adapters.Release && disp != adapters.Reject:
		err = fmt.Errorf("%w: unknown Disposition %d", ErrDisposition, int(disp))
	case c.stream:
		err = fmt.Errorf("%w: %s on a stream queue, which has no nack or reject", ErrDisposition, disp)
	case c.autoAck:
		err = fmt.Errorf("%w: %s with CommitAuto, which acked the message on receipt", ErrDisposition, disp)
	case disp == adapters.Release:
		if err := pc.ch.Nack(tag, false, true); err != nil {
			c.RecordErr(fmt.Errorf("partition %d: release (nack with requeue): %w", pc.p, err))
		}
		return true
	default:
		if err := pc.ch.Reject(tag, false); err != nil {
			c.RecordErr(fmt.Errorf("partition %d: reject: %w", pc.p, err))
		}
		return true
	}
	if c.dispErr.CompareAndSwap(false, true) {
		c.RecordErr(fmt.Errorf("partition %d: %w", pc.p, err))
	}
	return false
}

// ackHandled acks every handled delivery with one multiple-ack and, for
// streams, commits the offset after the last one.
func (pc *partConsumer) ackHandled() {
	if pc.unacked == 0 || pc.c.crashed.Load() {
		return
	}
	if err := pc.ch.Ack(pc.lastTag, true); err != nil {
		pc.c.RecordErr(fmt.Errorf("partition %d: ack: %w", pc.p, err))
		pc.unacked, pc.refs = 0, pc.refs[:0]
		return
	}
	pc.unacked = 0
	if pc.c.stream && pc.nextOffset >= 0 {
		// The commit is the local group's (AMQP cannot store a stream
		// offset on the server): the next owner of the partition in
		// this process starts there.
		if pc.c.g.Commit(pc.p, pc.nextOffset) && pc.c.cfg.OnCommitted != nil {
			pc.c.cfg.OnCommitted(map[int32]int64{pc.p: pc.nextOffset})
		}
		return
	}
	pc.reportAcked()
}

// reportAcked reports the Refs of the deliveries just acked (OnAcked):
// basic.ack has no reply, so "acked" means written to the channel.
func (pc *partConsumer) reportAcked() {
	if len(pc.refs) > 0 {
		pc.c.cfg.OnAcked(pc.p, pc.refs)
		pc.refs = pc.refs[:0]
	}
}
