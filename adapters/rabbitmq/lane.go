package rabbitmq

import (
	"fmt"
	"strconv"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
)

// lane is one publishing channel of a producer, with its own confirm
// window and listener. Confirms are matched to sends by delivery tag: tags
// are allocated and the publish is written under pubMu, so the tag read
// from GetNextPublishSeqNo is the one the library assigns.
type lane struct {
	p  *producer
	ch *amqp.Channel

	// sem holds one token per send not yet completed; its capacity is the
	// confirm window, which is also the size of the confirm and return
	// listener buffers. The library drops a notification its listener does
	// not take within 5s, so these buffers must hold every outstanding
	// publish or a confirm could be lost and its send never complete.
	sem chan struct{}

	pubMu sync.Mutex // serialises tag allocation and publish

	pendMu  sync.Mutex
	pending map[uint64]pendingSend

	drained chan struct{} // closed when the listener goroutine exits
}

// pendingSend is a publish awaiting its confirm.
type pendingSend struct {
	partition int32
	done      func(adapters.SendResult, error)
	returned  bool
}

// openLane creates a publishing channel on conn with a confirm window of
// window sends and starts its listener goroutine.
func (p *producer) openLane(conn *amqp.Connection, window int) (*lane, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	l := &lane{
		p:       p,
		ch:      ch,
		sem:     make(chan struct{}, window),
		pending: make(map[uint64]pendingSend, window),
		drained: make(chan struct{}),
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, window))
	var confirms chan amqp.Confirmation
	if p.confirm {
		if err := ch.Confirm(false); err != nil {
			return nil, fmt.Errorf("enable publisher confirms: %w", err)
		}
		confirms = ch.NotifyPublish(make(chan amqp.Confirmation, window))
	}
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	go l.listen(confirms, returns, closes)
	return l, nil
}

// publish writes one message. In confirm mode the send is registered under
// its delivery tag before the write, so its confirm cannot arrive unmatched.
// completed is true when the write failed but the listener, seeing the
// channel close, had already failed the registered send: then done has run
// and the token is back, and the caller must do neither again.
func (l *lane) publish(m *adapters.Message, part int32, mode uint8, done func(adapters.SendResult, error)) (completed bool, err error) {
	pub := amqp.Publishing{Body: m.Value, DeliveryMode: mode}
	if m.Key != nil {
		pub.Headers = amqp.Table{keyHeader: m.Key}
	}
	if l.p.closed.Load() {
		return false, fmt.Errorf("producer %q: %w", l.p.id, adapters.ErrClosed)
	}
	var tag uint64
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	if l.p.confirm {
		tag = l.ch.GetNextPublishSeqNo()
		// The tag rides along as message id so that a basic.return, which
		// carries no delivery tag, can be matched to its send.
		pub.MessageId = strconv.FormatUint(tag, 10)
		l.pendMu.Lock()
		l.pending[tag] = pendingSend{partition: part, done: done}
		l.pendMu.Unlock()
	}
	// mandatory: an unroutable message comes back as basic.return.
	err = l.ch.Publish(exchangeName(m.Topic), routingKey(part), true, false, pub)
	if err == nil {
		return false, nil
	}
	if l.p.confirm {
		l.pendMu.Lock()
		_, mine := l.pending[tag]
		delete(l.pending, tag)
		l.pendMu.Unlock()
		if !mine {
			return true, err
		}
	}
	return false, fmt.Errorf("publish: %w", err)
}

// listen completes confirmed sends and records returns until the channel
// closes, then fails whatever is still pending.
func (l *lane) listen(confirms <-chan amqp.Confirmation, returns <-chan amqp.Return, closes <-chan *amqp.Error) {
	defer close(l.drained)
	for confirms != nil || returns != nil {
		select {
		case ret, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			l.onReturn(ret)
		case c, ok := <-confirms:
			if !ok {
				confirms = nil
				continue
			}
			// RabbitMQ sends basic.return before the basic.ack of the same
			// message, and the library hands them to our channels in that
			// order, so any return for this tag is already buffered.
			l.drainReturns(returns)
			l.complete(c)
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
	l.failPending(cause)
}

// drainReturns takes every return already buffered without blocking.
func (l *lane) drainReturns(returns <-chan amqp.Return) {
	for {
		select {
		case ret, ok := <-returns:
			if !ok {
				return
			}
			l.onReturn(ret)
		default:
			return
		}
	}
}

// onReturn marks the send of a returned message as unroutable.
func (l *lane) onReturn(ret amqp.Return) {
	if !l.p.confirm {
		l.p.unroutable.Add(1)
		return
	}
	tag, err := strconv.ParseUint(ret.MessageId, 10, 64)
	l.pendMu.Lock()
	defer l.pendMu.Unlock()
	if ps, ok := l.pending[tag]; ok && err == nil {
		ps.returned = true
		l.pending[tag] = ps
	}
}

// complete reports one confirm to its send, then frees its token.
func (l *lane) complete(c amqp.Confirmation) {
	l.pendMu.Lock()
	ps, ok := l.pending[c.DeliveryTag]
	delete(l.pending, c.DeliveryTag)
	l.pendMu.Unlock()
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
	<-l.sem
}

// failPending fails every send still awaiting a confirm.
func (l *lane) failPending(cause error) {
	l.pendMu.Lock()
	pending := l.pending
	l.pending = make(map[uint64]pendingSend)
	l.pendMu.Unlock()
	for _, ps := range pending {
		ps.done(adapters.SendResult{Partition: ps.partition, Offset: -1},
			fmt.Errorf("send to partition %d: confirm lost: %w", ps.partition, cause))
		<-l.sem
	}
}
