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

// producer publishes with PublishMsgAsync and completes sends from the
// library's ack and error handlers, which run on the connection's ack
// goroutine: no goroutine per message. Sends are found again by their
// *nats.Msg in pending; whoever removes a send from pending calls its done,
// which makes "exactly once" hold even when an ack races Close.
//
// Per send the hot path costs one allocation (pendingSend, which holds the
// message), a slot, and one lock to register the send and one to complete
// it: the topic's route is read without a lock (last), a free slot is
// taken without a select (acquire), and pending is a list in send order,
// not a map (sendList).
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
	rr           atomic.Uint32 // round robin over partitions for unkeyed sends
	// slots is the in-flight bound (MaxInFlight): a send holds one from
	// Send until its done has been called.
	slots chan struct{}
	stop  chan struct{} // closed by Close
	// last is the route of the topic sent to last: a producer sends to
	// one topic in every workload, so the map lookup under mu is left to
	// the first send and to producers that switch topics.
	last atomic.Pointer[topicRoute]

	mu      sync.Mutex
	pending sendList
	closed  bool
	topics  map[string]*topicRoute // per topic: partition count and subjects
}

// topicRoute is what a producer needs to publish to a topic, looked up
// once: building a subject per send would cost a sanitize and two
// allocations on the hot path.
type topicRoute struct {
	topic    string
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
	if err := p.acquire(ctx); err != nil {
		done(fail, fmt.Errorf("send to %q: %w", m.Topic, err))
		return
	}
	part, subj, err := p.route(ctx, m)
	if err != nil {
		<-p.slots
		done(fail, err)
		return
	}
	ps := &pendingSend{msg: natsgo.Msg{Subject: subj, Data: m.Value, Header: p.header(m.Key)}, partition: part, done: done}
	msg := &ps.msg
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
	p.pending.push(ps)
	p.mu.Unlock()
	if _, err := p.js.PublishMsgAsync(msg); err != nil {
		p.completeSend(ps, -1, fmt.Errorf("publish to %q partition %d: %w", m.Topic, part, err))
	}
}

// acquire takes an in-flight slot, waiting while MaxInFlight sends are
// outstanding until ctx ends or the producer closes. A free slot is taken
// without the select, which costs about twice as much as the send on the
// channel alone and is needed only to wait.
func (p *producer) acquire(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for in-flight slot: %w", ctx.Err())
	case <-p.stop:
		return fmt.Errorf("producer %w", adapters.ErrClosed)
	}
}

// header is a send's headers: the key (keyHeader) if it has one and the
// Nats-Msg-Id if the producer is idempotent, built as one literal (one map,
// one value slice per header), or nil.
func (p *producer) header(key []byte) natsgo.Header {
	switch {
	case key == nil && !p.idempotent:
		return nil
	case !p.idempotent:
		return natsgo.Header{keyHeader: []string{encodeKey(key)}}
	case key == nil:
		return natsgo.Header{jetstream.MsgIDHeader: []string{p.nextMsgID()}}
	default:
		return natsgo.Header{keyHeader: []string{encodeKey(key)}, jetstream.MsgIDHeader: []string{p.nextMsgID()}}
	}
}

// nextMsgID is the Nats-Msg-Id of the producer's next send, "<ID>-<n>",
// built in a stack buffer so that it costs one allocation (the string).
func (p *producer) nextMsgID() string {
	var buf [64]byte
	b := append(buf[:0], p.id...)
	b = append(b, '-')
	return string(strconv.AppendUint(b, p.seq.Add(1), 10))
}

// route resolves Partition -1 (FNV-1a of the key, or round robin without a
// key), checks the range against the stream's partition count and returns
// the partition's subject.
func (p *producer) route(ctx context.Context, m *adapters.Message) (int32, string, error) {
	rt := p.last.Load()
	if rt == nil || rt.topic != m.Topic {
		var err error
		if rt, err = p.lookupRoute(ctx, m.Topic); err != nil {
			return 0, "", err
		}
	}
	parts := len(rt.subjects)
	part := m.Partition
	if part == -1 {
		if m.Key == nil {
			part = int32((p.rr.Add(1) - 1) % uint32(parts))
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

// lookupRoute returns topic's route, looking its stream up on the first
// send to it, and makes it the route read first by the next send.
func (p *producer) lookupRoute(ctx context.Context, topic string) (*topicRoute, error) {
	p.mu.Lock()
	rt, ok := p.topics[topic]
	p.mu.Unlock()
	if !ok {
		_, parts, err := streamPartitions(ctx, p.js, topic)
		if err != nil {
			if errors.Is(err, natsgo.ErrConnectionClosed) { // closed meanwhile
				return nil, fmt.Errorf("send: %w: %w", adapters.ErrClosed, err)
			}
			return nil, fmt.Errorf("send: %w", err)
		}
		rt = &topicRoute{topic: topic, subjects: make([]string, parts)}
		for i := range rt.subjects {
			rt.subjects[i] = subject(topic, i)
		}
		p.mu.Lock()
		p.topics[topic] = rt
		p.mu.Unlock()
	}
	p.last.Store(rt)
	return rt, nil
}

func (p *producer) onAck(_ jetstream.JetStream, msg *natsgo.Msg, ack *jetstream.PubAck) {
	p.complete(msg, int64(ack.Sequence), nil)
}

func (p *producer) onErr(_ jetstream.JetStream, msg *natsgo.Msg, err error) {
	p.complete(msg, -1, fmt.Errorf("publish to %s: %w", msg.Subject, err))
}

// complete finishes the send of msg if it is still pending (see finish).
func (p *producer) complete(msg *natsgo.Msg, offset int64, err error) {
	p.mu.Lock()
	s := p.pending.find(msg)
	if s != nil {
		p.pending.remove(s)
	}
	p.mu.Unlock()
	if s != nil {
		p.finish(s, offset, err)
	}
}

// completeSend finishes s if it is still pending (see finish).
func (p *producer) completeSend(s *pendingSend, offset int64, err error) {
	p.mu.Lock()
	ok := p.pending.remove(s)
	p.mu.Unlock()
	if ok {
		p.finish(s, offset, err)
	}
}

// finish completes s, just removed from pending: it releases the slot,
// calls done, and only then counts down Flush waiters, so that Flush
// returns after the callbacks of the sends it waited for have run.
func (p *producer) finish(s *pendingSend, offset int64, err error) {
	<-p.slots
	s.done(adapters.SendResult{Partition: s.partition, Offset: offset}, err)
	// s.waits has no writers any more: Flush appends only to sends still
	// in pending, under mu, so before s's removal (also under mu).
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
	if p.pending.n == 0 {
		p.mu.Unlock()
		return nil
	}
	w := &flushWait{left: p.pending.n, done: make(chan struct{})}
	for s := p.pending.head; s != nil; s = s.next {
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
	left := p.pending.all()
	p.mu.Unlock()
	for _, s := range left {
		p.completeSend(s, -1, fmt.Errorf("publish to %s: producer %w before the ack", s.msg.Subject, adapters.ErrClosed))
	}
	return err
}
