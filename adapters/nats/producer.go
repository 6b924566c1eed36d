package nats

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
)

// DefaultMaxInFlight bounds outstanding sends when ProducerConfig.MaxInFlight
// is 0.
const DefaultMaxInFlight = adapters.DefaultMaxInFlight

// keyHeader carries the message key as "k" + base64(key): headers are text,
// keys are binary, and the "k" prefix keeps an empty key distinct from no
// key (no header).
const keyHeader = "Bb-Key"

func encodeKey(k []byte) string { return "k" + base64.StdEncoding.EncodeToString(k) }

func decodeKey(h natsgo.Header) ([]byte, error) {
	v := h.Get(keyHeader)
	if v == "" {
		return nil, nil
	}
	if v[0] != 'k' {
		return nil, fmt.Errorf("malformed %s header", keyHeader)
	}
	return base64.StdEncoding.DecodeString(v[1:])
}

// flushWait is one Flush call waiting for the sends outstanding when it
// started.
type flushWait struct {
	left int
	done chan struct{}
}

// pendingSend is one send awaiting its publish ack. It holds the message
// it publishes, so that a send costs one allocation, not two.
type pendingSend struct {
	msg       natsgo.Msg
	partition int32
	done      func(adapters.SendResult, error)
	waits     []*flushWait
}

// producer publishes with PublishMsgAsync and completes sends from the
// library's ack and error handlers, which run on the connection's ack
// goroutine: no goroutine per message. Sends are found again by their
// *nats.Msg; whoever removes a send from pending calls its done, which makes
// "exactly once" hold even when an ack races Close.
type producer struct {
	nc         *natsgo.Conn
	js         jetstream.JetStream
	id         string
	idempotent bool
	acksNone   bool // core publish: no ack, done on write
	// flushTimeout bounds a connection flush when the caller's context
	// has no deadline (Config.APITimeout).
	flushTimeout time.Duration
	seq          atomic.Uint64 // Nats-Msg-Id sequence for idempotent sends
	slots        chan struct{}
	stop         chan struct{} // closed by Close

	mu      sync.Mutex
	pending map[*natsgo.Msg]*pendingSend
	closed  bool
	topics  map[string]*topicRoute // per topic: partition count and subjects
	rr      uint32
}

// topicRoute is what a producer needs to publish to a topic, looked up
// once: building a subject per send would cost a sanitize and two
// allocations on the hot path.
type topicRoute struct {
	subjects []string // per partition
}

// NewProducer returns a producer with its own connection. With AcksLeader or
// AcksAll a send completes on JetStream's publish ack, sent once the message
// is stored (and replicated, with Replicas > 1). With AcksNone it is a core
// NATS publish that the stream still stores but never acknowledges: done runs
// as soon as the message is in the connection's write buffer, with Offset -1.
// Linger, BatchBytes and Compression do not apply. Idempotent sets a
// Nats-Msg-Id of "<ID>-<n>" so the stream drops duplicates within its
// duplicate window.
func (n *NATS) NewProducer(ctx context.Context, cfg adapters.ProducerConfig) (adapters.Producer, error) {
	inflight := cfg.MaxInFlight
	if inflight <= 0 {
		inflight = DefaultMaxInFlight
	}
	p := &producer{
		id:           cfg.ID,
		idempotent:   dedupOn(n.cfg, cfg),
		acksNone:     cfg.Acks == adapters.AcksNone,
		flushTimeout: n.cfg.APITimeout,
		slots:        make(chan struct{}, inflight),
		stop:         make(chan struct{}),
		pending:      make(map[*natsgo.Msg]*pendingSend, inflight),
		topics:       make(map[string]*topicRoute),
	}
	nc, js, err := n.connect(ctx, "brokerbench-producer-"+cfg.ID, adapters.RoleProducers,
		jetstream.WithPublishAsyncMaxPending(inflight),
		jetstream.WithPublishAsyncAckHandler(p.onAck),
		jetstream.WithPublishAsyncErrHandler(p.onErr))
	if err != nil {
		return nil, fmt.Errorf("new nats producer %q: %w", cfg.ID, err)
	}
	p.nc, p.js = nc, js
	return p, nil
}

// Send publishes m asynchronously. It blocks while MaxInFlight sends are
// outstanding, and on the first send to a topic while the stream's partition
// count is looked up. Value is held until done runs (nats.go may re-publish
// it on a no-responders retry). done usually runs on the connection's ack
// goroutine and must not block on a Send to this producer (that Send could
// wait for a slot only a later ack frees).
func (p *producer) Send(ctx context.Context, m *adapters.Message, done func(adapters.SendResult, error)) {
	if done == nil {
		done = func(adapters.SendResult, error) {}
	}
	if m == nil {
		done(adapters.SendResult{Partition: -1, Offset: -1}, fmt.Errorf("send: nil message"))
		return
	}
	fail := adapters.SendResult{Partition: m.Partition, Offset: -1}
	// Closed first: with a free slot too, select would pick at random and
	// a send after Close could reach the closed connection.
	select {
	case <-p.stop:
		done(fail, fmt.Errorf("send to %q: producer %w", m.Topic, adapters.ErrClosed))
		return
	default:
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		done(fail, fmt.Errorf("send to %q: wait for in-flight slot: %w", m.Topic, ctx.Err()))
		return
	case <-p.stop:
		done(fail, fmt.Errorf("send to %q: producer %w", m.Topic, adapters.ErrClosed))
		return
	}
	part, subj, err := p.route(ctx, m)
	if err != nil {
		<-p.slots
		done(fail, err)
		return
	}
	ps := &pendingSend{msg: natsgo.Msg{Subject: subj, Data: m.Value}, partition: part, done: done}
	msg := &ps.msg
	if m.Key != nil {
		msg.Header = natsgo.Header{keyHeader: []string{encodeKey(m.Key)}}
	}
	if p.idempotent {
		if msg.Header == nil {
			msg.Header = natsgo.Header{}
		}
		msg.Header.Set(jetstream.MsgIDHeader, p.id+"-"+strconv.FormatUint(p.seq.Add(1), 10))
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		done(fail, fmt.Errorf("send to %q: producer %w", m.Topic, adapters.ErrClosed))
		return
	}
	if p.acksNone {
		p.mu.Unlock()
		err := p.nc.PublishMsg(msg)
		<-p.slots
		if err != nil {
			err = fmt.Errorf("publish to %q partition %d: %w", m.Topic, part, err)
		}
		done(adapters.SendResult{Partition: part, Offset: -1}, err)
		return
	}
	p.pending[msg] = ps
	p.mu.Unlock()
	if _, err := p.js.PublishMsgAsync(msg); err != nil {
		p.complete(msg, -1, fmt.Errorf("publish to %q partition %d: %w", m.Topic, part, err))
	}
}

// route resolves Partition -1 (FNV-1a of the key, or round robin without a
// key), checks the range against the stream's partition count and returns
// the partition's subject.
func (p *producer) route(ctx context.Context, m *adapters.Message) (int32, string, error) {
	p.mu.Lock()
	rt, ok := p.topics[m.Topic]
	p.mu.Unlock()
	if !ok {
		_, parts, err := streamPartitions(ctx, p.js, m.Topic)
		if err != nil {
			if errors.Is(err, natsgo.ErrConnectionClosed) { // closed meanwhile
				return 0, "", fmt.Errorf("send: %w: %w", adapters.ErrClosed, err)
			}
			return 0, "", fmt.Errorf("send: %w", err)
		}
		rt = &topicRoute{subjects: make([]string, parts)}
		for i := range rt.subjects {
			rt.subjects[i] = subject(m.Topic, i)
		}
		p.mu.Lock()
		p.topics[m.Topic] = rt
		p.mu.Unlock()
	}
	parts := len(rt.subjects)
	part := m.Partition
	if part == -1 {
		if m.Key == nil {
			p.mu.Lock()
			part = int32(p.rr % uint32(parts))
			p.rr++
			p.mu.Unlock()
		} else {
			h := fnv.New32a()
			_, _ = h.Write(m.Key)
			part = int32(h.Sum32() % uint32(parts))
		}
	}
	if part < 0 || int(part) >= parts {
		return 0, "", fmt.Errorf("send to %q partition %d of %d: %w", m.Topic, part, parts, adapters.ErrBadPartition)
	}
	return part, rt.subjects[part], nil
}

func (p *producer) onAck(_ jetstream.JetStream, msg *natsgo.Msg, ack *jetstream.PubAck) {
	p.complete(msg, int64(ack.Sequence), nil)
}

func (p *producer) onErr(_ jetstream.JetStream, msg *natsgo.Msg, err error) {
	p.complete(msg, -1, fmt.Errorf("publish to %s: %w", msg.Subject, err))
}

// complete finishes the send of msg if it is still pending: it releases the
// slot, calls done, and only then counts down Flush waiters, so that Flush
// returns after the callbacks of the sends it waited for have run.
func (p *producer) complete(msg *natsgo.Msg, offset int64, err error) {
	p.mu.Lock()
	s, ok := p.pending[msg]
	delete(p.pending, msg)
	p.mu.Unlock()
	if !ok {
		return
	}
	<-p.slots
	s.done(adapters.SendResult{Partition: s.partition, Offset: offset}, err)
	// s.waits has no writers any more: Flush appends only to sends still
	// in pending, under mu.
	if len(s.waits) == 0 {
		return
	}
	p.mu.Lock()
	for _, w := range s.waits {
		if w.left--; w.left == 0 {
			close(w.done)
		}
	}
	p.mu.Unlock()
}

// Flush waits until every send started before the call has completed. With
// AcksNone it also waits until the server has read every publish.
func (p *producer) Flush(ctx context.Context) error {
	if p.acksNone {
		if err := flushConn(ctx, p.nc, p.flushTimeout); err != nil {
			return fmt.Errorf("flush nats producer %q: %w", p.id, err)
		}
	}
	p.mu.Lock()
	if len(p.pending) == 0 {
		p.mu.Unlock()
		return nil
	}
	w := &flushWait{left: len(p.pending), done: make(chan struct{})}
	for _, s := range p.pending {
		s.waits = append(s.waits, w)
	}
	p.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flush nats producer %q: %w", p.id, ctx.Err())
	}
}

// Close refuses new sends, flushes, and closes the connection. If ctx ends
// first, the sends still outstanding complete with an error.
func (p *producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.stop)
	p.mu.Unlock()
	err := p.Flush(ctx)
	// CleanupPublisher fails what is still outstanding through onErr;
	// the sweep below catches anything it did not know about.
	p.js.CleanupPublisher()
	p.nc.Close()
	p.mu.Lock()
	left := make([]*natsgo.Msg, 0, len(p.pending))
	for msg := range p.pending {
		left = append(left, msg)
	}
	p.mu.Unlock()
	for _, msg := range left {
		p.complete(msg, -1, fmt.Errorf("publish to %s: producer %w before the ack", msg.Subject, adapters.ErrClosed))
	}
	return err
}
