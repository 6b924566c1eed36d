package sqs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/brokerbench/brokerbench/adapters"
)

// Producer defaults and SQS batch limits.
const (
	// DefaultMaxInFlight bounds unfinished sends when
	// ProducerConfig.MaxInFlight is 0.
	DefaultMaxInFlight = adapters.DefaultMaxInFlight
	// sendTimeout bounds one SendMessageBatch, retries included.
	sendTimeout = time.Minute
	// maxBatch is the most entries one SendMessageBatch,
	// DeleteMessageBatch or ReceiveMessage may carry.
	maxBatch = 10
)

// sendOp is one Send: it completes when every subscription queue has
// stored the message or one has failed.
type sendOp struct {
	partition int32
	remaining atomic.Int32
	mu        sync.Mutex
	err       error
	done      func(adapters.SendResult, error)
}

// entry is one message bound for one queue.
type entry struct {
	op    *sendOp
	body  string
	group string // FIFO message group
	dedup string // FIFO deduplication id
}

type producer struct {
	s      *SQS
	cfg    adapters.ProducerConfig
	idBase string // unique per producer instance, for deduplication ids
	seq    atomic.Uint64
	rr     atomic.Uint32 // round robin for unkeyed sends to Partition -1
	slots  chan struct{} // MaxInFlight
	reqs   chan struct{} // SendConcurrency
	kick   chan struct{}
	stop   chan struct{}
	exited chan struct{}

	mu          sync.Mutex
	pending     map[string][]entry // queue URL -> entries not yet sent
	busy        map[string]bool    // FIFO: queues with a batch in flight
	outstanding adapters.Inflight
	closed      bool
}

// NewProducer returns a producer that batches sends per queue, up to 10
// messages and 256 KiB per SendMessageBatch, with at most
// Config.SendConcurrency requests in flight. ProducerConfig.Acks is
// ignored: SQS answers a send only once the message is stored
// redundantly. Linger, when set, lets a batch wait that long for more
// messages; with 0, batches form only while requests are in flight.
func (s *SQS) NewProducer(_ context.Context, cfg adapters.ProducerConfig) (adapters.Producer, error) {
	if cfg.Idempotent && !s.cfg.FIFO {
		return nil, fmt.Errorf("%w: idempotent producer needs FIFO queues (set %sFIFO=true)", adapters.ErrNotApplicable, EnvPrefix)
	}
	maxInFlight := producerInFlight(cfg)
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	p := &producer{
		s:       s,
		cfg:     cfg,
		idBase:  clip(cfg.ID, 40) + "-" + hex.EncodeToString(rnd),
		slots:   make(chan struct{}, maxInFlight),
		reqs:    make(chan struct{}, s.cfg.SendConcurrency),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		exited:  make(chan struct{}),
		pending: make(map[string][]entry),
		busy:    make(map[string]bool),
	}
	go p.flusher()
	return p, nil
}

// Send queues m for every subscription queue of its topic.
func (p *producer) Send(ctx context.Context, m *adapters.Message, done func(adapters.SendResult, error)) {
	if done == nil {
		done = func(adapters.SendResult, error) {}
	}
	fail := func(err error) { done(adapters.SendResult{Partition: m.Partition, Offset: -1}, err) }
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		fail(fmt.Errorf("send to %q: producer %w", m.Topic, adapters.ErrClosed))
		return
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		fail(ctx.Err())
		return
	}
	entries, op, err := p.prepare(ctx, m, done)
	if err != nil {
		<-p.slots
		fail(err)
		return
	}
	p.mu.Lock()
	if p.closed { // closed while preparing
		p.mu.Unlock()
		<-p.slots
		fail(fmt.Errorf("send to %q: producer %w", m.Topic, adapters.ErrClosed))
		return
	}
	p.outstanding.Add()
	op.remaining.Store(int32(len(entries)))
	for url, e := range entries {
		p.pending[url] = append(p.pending[url], e)
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// prepare resolves the partition and the subscription queues of m and
// encodes it, returning one entry per queue URL.
func (p *producer) prepare(ctx context.Context, m *adapters.Message, done func(adapters.SendResult, error)) (map[string]entry, *sendOp, error) {
	meta, err := p.s.producerMeta(ctx, m.Topic)
	if err != nil {
		return nil, nil, fmt.Errorf("send: %w", err)
	}
	part := m.Partition
	switch {
	case part == -1 && m.Key != nil:
		h := fnv.New32a()
		_, _ = h.Write(m.Key)
		part = int32(h.Sum32() % uint32(meta.partitions))
	case part == -1:
		part = int32(p.rr.Add(1) % uint32(meta.partitions))
	case part < 0 || int(part) >= meta.partitions:
		return nil, nil, fmt.Errorf("send to %q partition %d of %d: %w", m.Topic, part, meta.partitions, adapters.ErrBadPartition)
	}
	if len(meta.subs) == 0 {
		return nil, nil, fmt.Errorf("send to %q: %w; SQS stores messages per subscription queue, so list the subscriptions in TopicSpec.Subscriptions", m.Topic, ErrNoSubscription)
	}
	body, err := encodeBody(m.Key, m.Value)
	if err != nil {
		return nil, nil, fmt.Errorf("send to %q: %w", m.Topic, err)
	}
	op := &sendOp{partition: part, done: done}
	e := entry{op: op, body: body}
	if p.s.cfg.FIFO {
		e.group = "p" + strconv.Itoa(int(part))
		e.dedup = p.idBase + "-" + strconv.FormatUint(p.seq.Add(1), 10)
	}
	out := make(map[string]entry, len(meta.subs))
	for _, sub := range meta.subs {
		url, err := p.s.queueURL(ctx, p.s.names().partition(m.Topic, sub, int(part)))
		if err != nil {
			return nil, nil, fmt.Errorf("send to %q: %w", m.Topic, err)
		}
		out[url] = e
	}
	return out, op, nil
}

// flusher cuts batches from the pending entries and sends each with one
// SendMessageBatch, taking a request slot before cutting so that entries
// keep accumulating while all slots are busy.
func (p *producer) flusher() {
	defer close(p.exited)
	for {
		select {
		case <-p.kick:
		case <-p.stop:
			return
		}
		if p.cfg.Linger > 0 && !p.hasFullBatch() {
			t := time.NewTimer(p.cfg.Linger)
			select {
			case <-t.C:
			case <-p.stop:
				t.Stop()
				return
			}
		}
		for {
			select {
			case p.reqs <- struct{}{}:
			case <-p.stop: // Close gave up waiting; it fails what is left
				return
			}
			url, batch := p.cut(false)
			if batch == nil {
				<-p.reqs
				break
			}
			go func() {
				defer func() { <-p.reqs }()
				p.sendBatch(url, batch)
				p.idleQueue(url)
			}()
		}
	}
}

// idleQueue clears a FIFO queue's busy mark and wakes the flusher for the
// entries that waited meanwhile.
func (p *producer) idleQueue(url string) {
	p.mu.Lock()
	delete(p.busy, url)
	more := len(p.pending[url]) > 0
	p.mu.Unlock()
	if more {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

func (p *producer) hasFullBatch() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, es := range p.pending {
		if len(es) >= maxBatch {
			return true
		}
	}
	return false
}

// cut removes and returns up to 10 entries of at most 256 KiB from one
// queue's pending entries, or nil when nothing is pending. Unless drain,
// in FIFO mode it skips queues with a batch in flight and marks the chosen one busy: two
// concurrent batches to one message group could be stored out of order.
func (p *producer) cut(drain bool) (string, []entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for url, es := range p.pending {
		if p.busy[url] && !drain {
			continue
		}
		if p.s.cfg.FIFO {
			p.busy[url] = true
		}
		n, size := 0, 0
		for n < len(es) && n < maxBatch && size+len(es[n].body) <= maxBodyBytes {
			size += len(es[n].body)
			n++
		}
		batch := es[:n:n]
		if n == len(es) {
			delete(p.pending, url)
		} else {
			p.pending[url] = es[n:]
		}
		return url, batch
	}
	return "", nil
}

// sendBatch sends one batch and completes its entries. The SDK retries
// throttling and server errors; an entry SQS still fails is reported to
// its send.
func (p *producer) sendBatch(url string, batch []entry) {
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: make([]types.SendMessageBatchRequestEntry, len(batch))}
	for i, e := range batch {
		in.Entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(e.body)}
		if e.group != "" {
			in.Entries[i].MessageGroupId = aws.String(e.group)
			in.Entries[i].MessageDeduplicationId = aws.String(e.dedup)
		}
	}
	// Sends are not tied to the caller's context: Send has returned, and
	// Flush or Close waits for the outcome. The timeout keeps a hung
	// connection from holding the batch, and Close, forever.
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	out, err := p.s.client.SendMessageBatch(ctx, in)
	if err != nil {
		for _, e := range batch {
			p.complete(e.op, fmt.Errorf("send batch to %s: %w", url, err))
		}
		return
	}
	failed := make(map[string]error, len(out.Failed))
	for _, f := range out.Failed {
		failed[aws.ToString(f.Id)] = fmt.Errorf("send to %s: %s: %s", url, aws.ToString(f.Code), aws.ToString(f.Message))
	}
	for i, e := range batch {
		p.complete(e.op, failed[strconv.Itoa(i)])
	}
}

// complete records one queue's outcome of op and finishes op after the
// last.
func (p *producer) complete(op *sendOp, err error) {
	if err != nil {
		op.mu.Lock()
		if op.err == nil {
			op.err = err
		}
		op.mu.Unlock()
	}
	if op.remaining.Add(-1) > 0 {
		return
	}
	op.mu.Lock()
	err = op.err
	op.mu.Unlock()
	op.done(adapters.SendResult{Partition: op.partition, Offset: -1}, err)
	<-p.slots
	p.mu.Lock()
	p.outstanding.Done()
	p.mu.Unlock()
}

// Flush waits until every send so far has completed.
func (p *producer) Flush(ctx context.Context) error {
	if err := p.outstanding.Wait(ctx, &p.mu); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// Close refuses new sends, waits for the outstanding ones and stops the
// flusher.
func (p *producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.Flush(ctx)
	close(p.stop)
	<-p.exited
	// Entries still pending (Flush gave up) are never sent: fail them, so
	// that every done callback runs once.
	for url, batch := p.cut(true); batch != nil; url, batch = p.cut(true) {
		for _, e := range batch {
			p.complete(e.op, fmt.Errorf("send to %s: producer %w before the batch was sent", url, adapters.ErrClosed))
		}
	}
	return err
}

// producerInFlight is the producer's bound on unfinished sends.
func producerInFlight(cfg adapters.ProducerConfig) int {
	if cfg.MaxInFlight <= 0 {
		return DefaultMaxInFlight
	}
	return cfg.MaxInFlight
}
