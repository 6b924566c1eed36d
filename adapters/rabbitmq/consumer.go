package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/localgroup"
)

// consumer is one member of a subscription's local group. It has a
// connection of its own and, per assigned partition, a channel and a
// goroutine that calls the Handler, so partitions are handled concurrently
// and each in order.
type consumer struct {
	sys     *RabbitMQ
	cfg     adapters.ConsumerConfig
	g       *localgroup.Group
	conn    *amqp.Connection
	raw     net.Conn
	stream  bool
	qtype   QueueType // of the topic's queues; quorum ones count deliveries
	autoAck bool
	plan    consumerPlan // prefetch and ack cadence (client.go)

	// Workers is the local group member's partition bookkeeping: a
	// partConsumer per assigned partition (partition.go).
	localgroup.Workers[*partConsumer]

	stopped   chan struct{} // closed when the connection is gone; see Stopped
	crashed   atomic.Bool
	dispErr   atomic.Bool // ErrDisposition recorded already (once is enough)
	closeOnce sync.Once
	closeErr  error
}

// NewConsumer starts a consumer of cfg.Subscription. The subscription's
// queues are declared if missing (a subscription not named in TopicSpec
// then sees only messages published from now on). cfg.Start only matters
// for streams, for a subscription this System has no offsets of: earliest
// is x-stream-offset "first", latest "next". InstanceID is not supported
// (adapters.ErrNotApplicable); Assignor and SessionTimeout are ignored,
// since the local group assigns round robin and notices leaves at once.
//
// With cfg.Queue the consumer is a competing consumer: it joins no local
// group and consumes every partition queue, and the broker spreads each
// queue's messages over its consumers (round robin within the prefetch
// windows). That needs a topic created with TopicSpec.Queue; on
// single-active-consumer queues the other consumers are standbys.
// Streams refuse cfg.Queue with adapters.ErrNotApplicable.
// cfg.MaxDeliveries is ignored: the limit is the queue's, set by
// CreateTopic from TopicSpec.MaxDeliveries.
//
// The Handler's Disposition is applied as soon as it returns: Release is
// basic.nack with requeue, Reject is basic.reject without requeue (to the
// dead-letter queue if the topic has one). Delivery.DeliveryCount is
// 1 + the quorum x-delivery-count header, and 0 on classic queues and
// streams, which do not count.
//
// The *Delivery passed to the Handler is reused for the partition's next
// message; its Key and Value are the library's per-message buffers, not
// reused, but must not be retained either, per the Handler contract.
func (r *RabbitMQ) NewConsumer(ctx context.Context, cfg adapters.ConsumerConfig) (adapters.Consumer, error) {
	cfg, plan, err := r.consumerDefaults(cfg)
	if err != nil {
		return nil, fmt.Errorf("new consumer %q: %w", cfg.ID, err)
	}
	if err := r.ensureSubscription(ctx, cfg.Topic, cfg.Subscription, cfg.Partitions); err != nil {
		return nil, fmt.Errorf("new consumer %q: %w", cfg.ID, err)
	}
	var g *localgroup.Group
	if cfg.Queue {
		// A queue consumer competes for every partition instead of
		// sharing them out: a group of its own assigns it all of them.
		g = localgroup.New(cfg.Partitions)
	} else if g, err = r.groups.Group(cfg.Topic, cfg.Subscription, cfg.Partitions); err != nil {
		return nil, fmt.Errorf("new consumer %q: %w", cfg.ID, err)
	}
	conn, raw, err := r.dial(ctx, adapters.RoleConsumers, "consumer "+cfg.ID)
	if err != nil {
		return nil, fmt.Errorf("new consumer %q: %w", cfg.ID, err)
	}
	c := &consumer{
		sys:     r,
		cfg:     cfg,
		g:       g,
		conn:    conn,
		raw:     raw,
		stream:  r.cfg.QueueType == QueueStream,
		qtype:   r.settings(cfg.Topic).qtype,
		plan:    plan,
		stopped: make(chan struct{}),
	}
	c.Workers = localgroup.Workers[*partConsumer]{
		Start:   func(_ context.Context, p int32) (*partConsumer, error) { return c.startPartition(p) },
		Release: func(pc *partConsumer) { _ = pc.closeChannel() },
		Crashed: c.crashed.Load, OnAssigned: cfg.OnAssigned, OnRevoked: cfg.OnRevoked,
	}
	// Recovery is off, so a lost connection ends this consumer for good:
	// say so, instead of leaving a consumer that silently gets nothing.
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		for range closed {
		}
		close(c.stopped)
	}()
	// Streams need manual acks (they are flow credit there), so auto mode
	// on a stream acks on receipt instead.
	c.autoAck = cfg.Commit == adapters.CommitAuto && !c.stream
	if err := g.Join(ctx, c); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("new consumer %q: %w", cfg.ID, err)
	}
	return c, nil
}

// Stopped is closed once the consumer's connection is gone, whether by
// Close, Crash or a failure; implements adapters.Stopper.
func (c *consumer) Stopped() <-chan struct{} { return c.stopped }

var (
	_ adapters.Stopper  = (*consumer)(nil)
	_ localgroup.Member = (*consumer)(nil)
	_ localgroup.Worker = (*partConsumer)(nil)
)

// consumerDefaults validates cfg and fills in defaults, with the plan
// of its acknowledgements.
func (r *RabbitMQ) consumerDefaults(cfg adapters.ConsumerConfig) (adapters.ConsumerConfig, consumerPlan, error) {
	fail := func(err error) (adapters.ConsumerConfig, consumerPlan, error) { return cfg, consumerPlan{}, err }
	if cfg.Handler == nil {
		return fail(errors.New("ConsumerConfig.Handler is nil"))
	}
	if err := checkName("topic", cfg.Topic); err != nil {
		return fail(err)
	}
	if err := checkName("subscription", cfg.Subscription); err != nil {
		return fail(err)
	}
	if cfg.InstanceID != "" {
		return fail(fmt.Errorf("InstanceID: %w: RabbitMQ has no static group membership", adapters.ErrNotApplicable))
	}
	if cfg.Queue && r.cfg.QueueType == QueueStream {
		return fail(fmt.Errorf("ConsumerConfig.Queue: %w: stream queues have no competing consumers or per-message acks", adapters.ErrNotApplicable))
	}
	if cfg.MaxDeliveries < 0 {
		return fail(fmt.Errorf("MaxDeliveries %d must not be negative", cfg.MaxDeliveries))
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = r.partitions(cfg.Topic)
	}
	if cfg.Partitions <= 0 {
		return fail(fmt.Errorf("%w: partition count of %q not given and not known to this System", adapters.ErrTopicNotFound, cfg.Topic))
	}
	plan, err := planConsumer(cfg)
	if err != nil {
		return fail(err)
	}
	cfg.Commit, cfg.CommitInterval, cfg.Prefetch = plan.Commit, plan.Interval, plan.Prefetch
	return cfg, plan, nil
}

// Close stops consuming gracefully: each partition finishes its current
// delivery, acks what was handled, and its channel closes, so the broker
// requeues the rest; the partitions move to the remaining members at once.
// It returns errors met while consuming, e.g. a lost partition.
func (c *consumer) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		err := c.g.Leave(ctx, c, true)
		if cerr := c.conn.Close(); cerr != nil && !errors.Is(cerr, amqp.ErrClosed) {
			err = errors.Join(err, fmt.Errorf("close connection: %w", cerr))
		}
		err = errors.Join(c.Err(), err)
		if err != nil {
			c.closeErr = fmt.Errorf("close consumer %q: %w", c.cfg.ID, err)
		}
	})
	return c.closeErr
}

// Crash drops the TCP connection without the AMQP close handshake and
// without acking, as a killed process would. The broker requeues every
// unacknowledged delivery; the partitions move to the remaining members of
// the local group at once (the broker notices the closed socket at once,
// too). Crash does not wait for running Handler calls; their returns ack
// nothing, and no new Handler call starts, except one whose dispatch had
// already begun when Crash was called.
func (c *consumer) Crash() error {
	c.closeOnce.Do(func() {
		c.crashed.Store(true)
		if c.raw != nil {
			_ = c.raw.Close()
		}
		if err := c.g.Leave(context.Background(), c, false); err != nil {
			c.closeErr = fmt.Errorf("crash consumer %q: reassign partitions: %w", c.cfg.ID, err)
		}
		_ = c.conn.Close() // reaps the library's goroutines; the socket is gone
	})
	return c.closeErr
}
