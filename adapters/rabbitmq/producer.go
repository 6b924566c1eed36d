package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
)

// keyHeader carries Message.Key, which AMQP has no field for. Its absence
// means a nil key; an empty byte array means an empty key.
const keyHeader = "bb-key"

// producer publishes over one or more lanes: channels in confirm mode,
// spread over connections of its own ([producerPlan]). Partition p always
// goes to lane p mod lanes, so one partition's messages keep their order
// (RabbitMQ orders messages per channel, not across channels).
type producer struct {
	sys     *RabbitMQ
	id      string
	plan    producerPlan
	conns   []*amqp.Connection
	lanes   []*lane
	confirm bool

	// routes caches, per topic, what a send needs from the System
	// (partition count, delivery mode) and that the topic's exchange
	// exists: a copy-on-write map, so the hot path takes no lock.
	routes  atomic.Pointer[map[string]route]
	routeMu sync.Mutex // serialises misses, which check the exchange

	flushMu sync.Mutex

	// closed is set by Close before it flushes. A Send that saw it unset
	// holds an in-flight token, so Close's Flush waits for that send; one
	// that sees it set fails with adapters.ErrClosed. closing wakes blocked Sends.
	closed  atomic.Bool
	closing chan struct{}

	// unroutable counts returns in AcksNone mode, where the send has already
	// completed; Flush and Close report them.
	unroutable atomic.Int64
	reported   atomic.Int64
	rr         atomic.Uint64 // round-robin counter for keyless Partition -1
	closeOnce  sync.Once
}

// route is what a producer knows of a topic.
type route struct {
	partitions int   // 0 when this System does not know it
	mode       uint8 // amqp.Persistent or amqp.Transient, per the topic's storage
}

// NewProducer opens the producer's connections and channels as
// [planProducer] sizes them for cfg.Rate and cfg.MaxInFlight.
// With AcksLeader or AcksAll the channels are in confirm mode (RabbitMQ has
// no distinction: a confirm means every queue the message was routed to
// has taken responsibility for it). Idempotent, Linger, BatchBytes and
// Compression are ignored: AMQP 0-9-1 has no such producer features.
func (r *RabbitMQ) NewProducer(ctx context.Context, cfg adapters.ProducerConfig) (adapters.Producer, error) {
	plan, err := planProducer(cfg)
	if err != nil {
		return nil, fmt.Errorf("new producer %q: %w", cfg.ID, err)
	}
	return r.newProducer(ctx, cfg, plan)
}

// newProducer opens a producer as plan says.
func (r *RabbitMQ) newProducer(ctx context.Context, cfg adapters.ProducerConfig, plan producerPlan) (*producer, error) {
	p := &producer{
		sys:     r,
		id:      cfg.ID,
		plan:    plan,
		confirm: cfg.Acks != adapters.AcksNone,
		closing: make(chan struct{}),
	}
	p.routes.Store(&map[string]route{})
	for c := range plan.Connections {
		conn, _, err := r.dial(ctx, adapters.RoleProducers, fmt.Sprintf("producer %s/%d", cfg.ID, c))
		if err != nil {
			p.closeConns()
			return nil, fmt.Errorf("new producer %q: %w", cfg.ID, err)
		}
		p.conns = append(p.conns, conn)
	}
	for i := range plan.Channels {
		// Channels go round robin over the connections, so each
		// connection carries the same share of the partitions.
		l, err := p.openLane(p.conns[i%len(p.conns)], plan.Window)
		if err != nil {
			p.closeConns()
			return nil, fmt.Errorf("new producer %q: %w", cfg.ID, err)
		}
		p.lanes = append(p.lanes, l)
	}
	return p, nil
}

// closeConns closes the producer's connections, which ends their lanes'
// listeners.
func (p *producer) closeConns() {
	for _, c := range p.conns {
		if !c.IsClosed() {
			_ = c.Close()
		}
	}
}

// Send publishes m to the exchange of m.Topic with m.Partition as routing
// key, on the partition's lane. It blocks only while the lane's confirm
// window is full, ctx is done, or the socket is blocked by broker flow
// control; it never waits for a confirm. done runs on the lane's listener
// goroutine for confirmed sends and must not block or call Send (which
// could wait for a token only the listener can return).
func (p *producer) Send(ctx context.Context, m *adapters.Message, done func(adapters.SendResult, error)) {
	// select picks at random among ready cases, so an expired ctx or a
	// closed producer must be checked before competing with a free token.
	if err := ctx.Err(); err != nil {
		done(adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send to %q: %w", m.Topic, err))
		return
	}
	if p.closed.Load() {
		done(adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send to %q: producer %q: %w", m.Topic, p.id, adapters.ErrClosed))
		return
	}
	rt, err := p.route(ctx, m.Topic)
	var part int32
	if err == nil {
		part, err = p.partition(m, rt.partitions)
	}
	if err != nil {
		done(adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send to %q: %w", m.Topic, err))
		return
	}
	l := p.lanes[int(part)%len(p.lanes)]
	select {
	case l.sem <- struct{}{}:
	default:
		select {
		case l.sem <- struct{}{}:
		case <-ctx.Done():
			done(adapters.SendResult{Partition: part, Offset: -1}, fmt.Errorf("send to %q: %w", m.Topic, ctx.Err()))
			return
		case <-p.closing:
			done(adapters.SendResult{Partition: part, Offset: -1}, fmt.Errorf("send to %q: producer %q: %w", m.Topic, p.id, adapters.ErrClosed))
			return
		}
	}
	completed, err := l.publish(m, part, rt.mode, done)
	switch {
	case completed:
		return // the listener failed it already, token and all
	case err != nil:
		<-l.sem
		done(adapters.SendResult{Partition: part, Offset: -1}, fmt.Errorf("send to %q partition %d: %w", m.Topic, part, err))
	case !p.confirm:
		<-l.sem
		done(adapters.SendResult{Partition: part, Offset: -1}, nil)
	}
}

// route returns what a send to topic needs, from the cache or, on a
// miss, from the System after checking that the topic's exchange exists:
// publishing to a missing exchange makes the broker close the channel
// (404), which would fail every later send of the lane. Topics whose
// partition count this System does not know are looked up every time, so
// that a CreateTopic through it later is seen. A cached topic deleted and
// created again with other settings during the producer's life keeps the
// first one's partition count and delivery mode.
func (p *producer) route(ctx context.Context, topic string) (route, error) {
	if rt, ok := (*p.routes.Load())[topic]; ok {
		return rt, nil
	}
	p.routeMu.Lock()
	defer p.routeMu.Unlock()
	routes := *p.routes.Load()
	if rt, ok := routes[topic]; ok {
		return rt, nil
	}
	if err := p.checkExchange(ctx, topic); err != nil {
		return route{}, err
	}
	rt := route{partitions: p.sys.partitions(topic), mode: amqp.Transient}
	if p.sys.settings(topic).persistent {
		rt.mode = amqp.Persistent
	}
	if rt.partitions > 0 {
		next := make(map[string]route, len(routes)+1)
		maps.Copy(next, routes)
		next[topic] = rt
		p.routes.Store(&next)
	}
	return rt, nil
}

// partition resolves m.Partition, choosing one for -1 by key hash (FNV-1a)
// or round robin when the topic's partition count n is known here.
func (p *producer) partition(m *adapters.Message, n int) (int32, error) {
	switch {
	case m.Partition >= 0 && (n == 0 || int(m.Partition) < n):
		return m.Partition, nil
	case m.Partition >= 0:
		return m.Partition, fmt.Errorf("%w: %d, topic has %d partitions", adapters.ErrBadPartition, m.Partition, n)
	case m.Partition != -1:
		return m.Partition, fmt.Errorf("%w: %d", adapters.ErrBadPartition, m.Partition)
	case n == 0:
		return m.Partition, fmt.Errorf("%w: -1 needs the partition count, which this System does not know for topic %q", adapters.ErrBadPartition, m.Topic)
	case m.Key == nil:
		return int32((p.rr.Add(1) - 1) % uint64(n)), nil
	default:
		h := fnv.New32a()
		_, _ = h.Write(m.Key)
		return int32(h.Sum32() % uint32(n)), nil
	}
}

// checkExchange checks with a passive declare, on a channel of its own,
// that topic's exchange exists.
func (p *producer) checkExchange(ctx context.Context, topic string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ch, err := p.conns[0].Channel()
	if err != nil {
		return fmt.Errorf("open channel to check exchange: %w", err)
	}
	err = ch.ExchangeDeclarePassive(exchangeName(topic), amqp.ExchangeDirect, true, false, false, false, nil)
	if !ch.IsClosed() {
		_ = ch.Close()
	}
	switch {
	case isAMQPCode(err, amqp.NotFound):
		return fmt.Errorf("%w: no exchange %q", adapters.ErrTopicNotFound, topic)
	case err != nil:
		return fmt.Errorf("check exchange %q: %w", topic, err)
	}
	return nil
}

// Flush waits until every send so far has completed, by taking every
// in-flight token of every lane. It reports unroutable messages returned
// in AcksNone mode since the last Flush.
func (p *producer) Flush(ctx context.Context) error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	var taken []*lane
	defer func() {
		for _, l := range taken {
			<-l.sem
		}
	}()
	for _, l := range p.lanes {
		for range cap(l.sem) {
			select {
			case l.sem <- struct{}{}:
				taken = append(taken, l)
			case <-ctx.Done():
				return fmt.Errorf("flush producer %q: %d sends outstanding: %w", p.id, p.outstanding(taken), ctx.Err())
			}
		}
	}
	return p.unroutableErr()
}

// outstanding is the number of in-flight tokens Flush has not taken yet.
func (p *producer) outstanding(taken []*lane) int {
	n := -len(taken)
	for _, l := range p.lanes {
		n += cap(l.sem)
	}
	return n
}

// unroutableErr reports AcksNone returns not reported before.
func (p *producer) unroutableErr() error {
	n := p.unroutable.Load()
	if prev := p.reported.Swap(n); n > prev {
		return fmt.Errorf("producer %q: %d messages returned: %w", p.id, n-prev, ErrUnroutable)
	}
	return nil
}

// Close flushes (bounded by ctx), closes the connections and fails sends
// still outstanding with adapters.ErrClosed. Later Sends fail with adapters.ErrClosed.
func (p *producer) Close(ctx context.Context) error {
	var err error
	p.closeOnce.Do(func() {
		// Not under a lane's pubMu: a publish blocked by broker flow
		// control holds it, and Close must still return when ctx ends.
		p.closed.Store(true)
		close(p.closing)
		err = p.Flush(ctx)
		for i, c := range p.conns {
			if cerr := c.Close(); cerr != nil && !errors.Is(cerr, amqp.ErrClosed) {
				err = errors.Join(err, fmt.Errorf("close producer %q connection %d: %w", p.id, i, cerr))
			}
		}
		for _, l := range p.lanes {
			<-l.drained
		}
	})
	return err
}
