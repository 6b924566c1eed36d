package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
)

// DefaultMaxInFlight bounds unconfirmed sends per producer when
// ProducerConfig.MaxInFlight is 0.
const DefaultMaxInFlight = 1000

// keyHeader carries Message.Key, which AMQP has no field for. Its absence
// means a nil key; an empty byte array means an empty key.
const keyHeader = "bb-key"

// producer publishes on one channel of its own connection. Confirms are
// matched to sends by delivery tag: tags are allocated and the publish is
// written under pubMu, so the tag read from GetNextPublishSeqNo is the one
// the library assigns.
type producer struct {
	sys     *RabbitMQ
	id      string
	conn    *amqp.Connection
	ch      *amqp.Channel
	confirm bool
	mode    uint8

	// sem holds one token per send not yet completed; its capacity is
	// MaxInFlight, which is also the size of the confirm and return
	// listener buffers. The library drops a notification its listener does
	// not take within 5s, so these buffers must hold every outstanding
	// publish or a confirm could be lost and its send never complete.
	sem     chan struct{}
	flushMu sync.Mutex

	pubMu sync.Mutex // serialises tag allocation and publish

	// closed is set by Close before it flushes. A Send that saw it unset
	// holds an in-flight token, so Close's Flush waits for that send; one
	// that sees it set fails with adapters.ErrClosed. closing wakes blocked Sends.
	closed  atomic.Bool
	closing chan struct{}

	pendMu  sync.Mutex
	pending map[uint64]*pendingSend

	exMu      sync.Mutex
	exchanges map[string]bool // exchanges known to exist

	// unroutable counts returns in AcksNone mode, where the send has already
	// completed; Flush and Close report them.
	unroutable atomic.Int64
	reported   atomic.Int64
	rr         atomic.Uint64 // round-robin counter for keyless Partition -1
	drained    chan struct{} // closed when the listener goroutine exits
	closeOnce  sync.Once
}

// pendingSend is a publish awaiting its confirm.
type pendingSend struct {
	partition int32
	done      func(adapters.SendResult, error)
	returned  bool
}

// NewProducer opens a connection and channel for one producer. With
// AcksLeader or AcksAll the channel is put in confirm mode (RabbitMQ has no
// distinction: a confirm means every queue the message was routed to has
// taken responsibility for it). Idempotent, Linger, BatchBytes and
// Compression are ignored: AMQP 0-9-1 has no such producer features.
func (r *RabbitMQ) NewProducer(ctx context.Context, cfg adapters.ProducerConfig) (adapters.Producer, error) {
	if cfg.MaxInFlight < 0 {
		return nil, fmt.Errorf("new producer %q: MaxInFlight %d is negative", cfg.ID, cfg.MaxInFlight)
	}
	maxInFlight := cfg.MaxInFlight
	if maxInFlight == 0 {
		maxInFlight = DefaultMaxInFlight
	}
	conn, _, err := r.dial(ctx, adapters.RoleProducers, "producer "+cfg.ID)
	if err != nil {
		return nil, fmt.Errorf("new producer %q: %w", cfg.ID, err)
	}
	p := &producer{
		sys:       r,
		id:        cfg.ID,
		conn:      conn,
		confirm:   cfg.Acks != adapters.AcksNone,
		mode:      amqp.Persistent,
		sem:       make(chan struct{}, maxInFlight),
		closing:   make(chan struct{}),
		pending:   make(map[uint64]*pendingSend),
		exchanges: make(map[string]bool),
		drained:   make(chan struct{}),
	}
	if r.cfg.Transient {
		p.mode = amqp.Transient
	}
	if err := p.open(); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("new producer %q: %w", cfg.ID, err)
	}
	return p, nil
}

// open creates the publishing channel and starts the listener goroutine.
func (p *producer) open() error {
	ch, err := p.conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	p.ch = ch
	returns := ch.NotifyReturn(make(chan amqp.Return, cap(p.sem)))
	var confirms chan amqp.Confirmation
	if p.confirm {
		if err := ch.Confirm(false); err != nil {
			return fmt.Errorf("enable publisher confirms: %w", err)
		}
		confirms = ch.NotifyPublish(make(chan amqp.Confirmation, cap(p.sem)))
	}
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	go p.listen(confirms, returns, closes)
	return nil
}

// Send publishes m to the exchange of m.Topic with m.Partition as routing
// key. It blocks only while MaxInFlight sends are outstanding, ctx is done,
// or the socket is blocked by broker flow control; it never waits for a
// confirm. done runs on the producer's listener goroutine for confirmed
// sends and must not block or call Send (which could wait for a token only
// the listener can return).
func (p *producer) Send(ctx context.Context, m *adapters.Message, done func(adapters.SendResult, error)) {
	// select picks at random among ready cases, so an expired ctx or a
	// closed producer must be checked before competing with a free token.
	if err := ctx.Err(); err != nil {
		done(adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send to %q: %w", m.Topic, err))
		return
	}
	select {
	case <-p.closing:
		done(adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send to %q: producer %q: %w", m.Topic, p.id, adapters.ErrClosed))
		return
	default:
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		done(adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send to %q: %w", m.Topic, ctx.Err()))
		return
	case <-p.closing:
		done(adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send to %q: producer %q: %w", m.Topic, p.id, adapters.ErrClosed))
		return
	}
	part, err := p.partition(m)
	if err == nil {
		err = p.checkExchange(m.Topic)
	}
	if err == nil {
		var completed bool
		completed, err = p.publish(m, part, done)
		if completed {
			return // the listener failed it already, token and all
		}
	}
	if err != nil {
		<-p.sem
		done(adapters.SendResult{Partition: part, Offset: -1}, fmt.Errorf("send to %q partition %d: %w", m.Topic, part, err))
		return
	}
	if !p.confirm {
		<-p.sem
		done(adapters.SendResult{Partition: part, Offset: -1}, nil)
	}
}

// partition resolves m.Partition, choosing one for -1 by key hash (FNV-1a)
// or round robin when the topic's partition count is known here.
func (p *producer) partition(m *adapters.Message) (int32, error) {
	n := p.sys.partitions(m.Topic)
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

// checkExchange makes sure the topic's exchange exists before the first
// publish to it: publishing to a missing exchange makes the broker close
// the channel (404), which would fail every later send of this producer.
func (p *producer) checkExchange(topic string) error {
	p.exMu.Lock()
	defer p.exMu.Unlock()
	if p.exchanges[topic] {
		return nil
	}
	ch, err := p.conn.Channel()
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
	p.exchanges[topic] = true
	return nil
}

// publish writes one message. In confirm mode the send is registered under
// its delivery tag before the write, so its confirm cannot arrive unmatched.
// completed is true when the write failed but the listener, seeing the
// channel close, had already failed the registered send: then done has run
// and the token is back, and the caller must do neither again.
func (p *producer) publish(m *adapters.Message, part int32, done func(adapters.SendResult, error)) (completed bool, err error) {
	pub := amqp.Publishing{Body: m.Value, DeliveryMode: p.mode}
	if m.Key != nil {
		pub.Headers = amqp.Table{keyHeader: m.Key}
	}
	if p.closed.Load() {
		return false, fmt.Errorf("producer %q: %w", p.id, adapters.ErrClosed)
	}
	var tag uint64
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	if p.confirm {
		tag = p.ch.GetNextPublishSeqNo()
		// The tag rides along as message id so that a basic.return, which
		// carries no delivery tag, can be matched to its send.
		pub.MessageId = strconv.FormatUint(tag, 10)
		p.pendMu.Lock()
		p.pending[tag] = &pendingSend{partition: part, done: done}
		p.pendMu.Unlock()
	}
	// mandatory: an unroutable message comes back as basic.return.
	err = p.ch.Publish(exchangeName(m.Topic), routingKey(part), true, false, pub)
	if err == nil {
		return false, nil
	}
	if p.confirm {
		p.pendMu.Lock()
		_, mine := p.pending[tag]
		delete(p.pending, tag)
		p.pendMu.Unlock()
		if !mine {
			return true, err
		}
	}
	return false, fmt.Errorf("publish: %w", err)
}

// listen completes confirmed sends and records returns until the channel
// closes, then fails whatever is still pending.
func (p *producer) listen(confirms <-chan amqp.Confirmation, returns <-chan amqp.Return, closes <-chan *amqp.Error) {
	defer close(p.drained)
	for confirms != nil || returns != nil {
		select {
		case ret, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			p.onReturn(ret)
		case c, ok := <-confirms:
			if !ok {
				confirms = nil
				continue
			}
			// RabbitMQ sends basic.return before the basic.ack of the same
			// message, and the library hands them to our channels in that
			// order, so any return for this tag is already buffered.
			p.drainReturns(returns)
			p.complete(c)
		}
	}
	var cause error = adapters.ErrClosed
	select {
	case e := <-closes:
		if e != nil {
			cause = fmt.Errorf("%w: %w", adapters.ErrClosed, e)
		}
	default:
	}
	p.failPending(cause)
}

// drainReturns takes every return already buffered without blocking.
func (p *producer) drainReturns(returns <-chan amqp.Return) {
	for {
		select {
		case ret, ok := <-returns:
			if !ok {
				return
			}
			p.onReturn(ret)
		default:
			return
		}
	}
}

// onReturn marks the send of a returned message as unroutable.
func (p *producer) onReturn(ret amqp.Return) {
	if !p.confirm {
		p.unroutable.Add(1)
		return
	}
	tag, err := strconv.ParseUint(ret.MessageId, 10, 64)
	p.pendMu.Lock()
	defer p.pendMu.Unlock()
	if ps, ok := p.pending[tag]; ok && err == nil {
		ps.returned = true
	}
}

// complete reports one confirm to its send, then frees its token.
func (p *producer) complete(c amqp.Confirmation) {
	p.pendMu.Lock()
	ps, ok := p.pending[c.DeliveryTag]
	delete(p.pending, c.DeliveryTag)
	p.pendMu.Unlock()
	if !ok {
		return
	}
	res := adapters.SendResult{Partition: ps.partition, Offset: -1}
	switch {
	case !c.Ack:
		ps.done(res, fmt.Errorf("send to partition %d: %w", ps.partition, ErrNacked))
	case ps.returned:
		ps.done(res, fmt.Errorf("send to partition %d: %w: no queue bound for the partition (create the topic with a subscription)",
			ps.partition, ErrUnroutable))
	default:
		ps.done(res, nil)
	}
	<-p.sem
}

// failPending fails every send still awaiting a confirm.
func (p *producer) failPending(cause error) {
	p.pendMu.Lock()
	pending := p.pending
	p.pending = make(map[uint64]*pendingSend)
	p.pendMu.Unlock()
	for _, ps := range pending {
		ps.done(adapters.SendResult{Partition: ps.partition, Offset: -1},
			fmt.Errorf("send to partition %d: confirm lost: %w", ps.partition, cause))
		<-p.sem
	}
}

// Flush waits until every send so far has completed, by taking every
// in-flight token. It reports unroutable messages returned in AcksNone mode
// since the last Flush.
func (p *producer) Flush(ctx context.Context) error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	taken := 0
	defer func() {
		for range taken {
			<-p.sem
		}
	}()
	for taken < cap(p.sem) {
		select {
		case p.sem <- struct{}{}:
			taken++
		case <-ctx.Done():
			return fmt.Errorf("flush producer %q: %d sends outstanding: %w", p.id, cap(p.sem)-taken, ctx.Err())
		}
	}
	return p.unroutableErr()
}

// unroutableErr reports AcksNone returns not reported before.
func (p *producer) unroutableErr() error {
	n := p.unroutable.Load()
	if prev := p.reported.Swap(n); n > prev {
		return fmt.Errorf("producer %q: %d messages returned: %w", p.id, n-prev, ErrUnroutable)
	}
	return nil
}

// Close flushes (bounded by ctx), closes the connection and fails sends
// still outstanding with adapters.ErrClosed. Later Sends fail with adapters.ErrClosed.
func (p *producer) Close(ctx context.Context) error {
	var err error
	p.closeOnce.Do(func() {
		// Not under pubMu: a publish blocked by broker flow control holds
		// it, and Close must still return when ctx ends.
		p.closed.Store(true)
		close(p.closing)
		err = p.Flush(ctx)
		if cerr := p.conn.Close(); cerr != nil && !errors.Is(cerr, amqp.ErrClosed) {
			err = errors.Join(err, fmt.Errorf("close producer %q connection: %w", p.id, cerr))
		}
		<-p.drained
	})
	return err
}
