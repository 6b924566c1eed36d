package redis

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
)

// Producer defaults.
const (
	// DefaultMaxInFlight bounds outstanding sends when
	// ProducerConfig.MaxInFlight is 0.
	DefaultMaxInFlight = adapters.DefaultMaxInFlight
	// maxPipeline caps the XADDs in one pipeline, so one huge backlog does
	// not become one huge request.
	maxPipeline = 1000
)

// Stream entry fields. A nil key is stored without the key field, so nil and
// empty keys stay distinct.
const (
	fieldKey   = "k"
	fieldValue = "v"
)

// pendingSend is one queued Send.
type pendingSend struct {
	topic     string
	partition int32
	key, val  []byte
	done      func(adapters.SendResult, error)
}

// producer batches concurrent Sends into XADD pipelines. One flusher
// goroutine owns the Redis connection and sends one pipeline at a time: while
// a pipeline is in flight, new sends queue up and form the next one, so the
// batch size adapts to the load (like Nagle) and the entries of one producer
// are stored in Send order. Callbacks run on the flusher goroutine in Send
// order.
//
// The hot path is one mutex acquisition per Send and per pipeline: the
// in-flight bound is enqueued-completed under mu (Send waits on progress
// when it is reached) rather than a token channel, whose two operations
// per message cost more than the rest of Send (measured with
// BenchmarkHarnessOverheadRedis), and the flusher is woken only when the
// queue becomes non-empty.
type producer struct {
	client goredis.UniversalClient
	r      *Redis // for trimFor
	layout keyLayout
	size   producerSizing // client.go

	ctx    context.Context // cancelled when Close gives up on flushing
	cancel context.CancelFunc
	wake   chan struct{} // capacity 1: "the queue is not empty"
	stop   chan struct{} // closed by Close: fail what is still queued
	exited chan struct{} // closed when the flusher returns

	mu        sync.Mutex
	queue     []pendingSend
	closed    bool
	enqueued  uint64        // sends queued so far
	completed uint64        // sends whose done has run
	progress  chan struct{} // closed and replaced whenever completed grows
	fillAt    int           // > 0: signal filled once the queue holds this many (awaitRefill)
	filled    chan struct{} // capacity 1

	// Flusher goroutine only.
	spare  []pendingSend         // the previous batch, reused as the next queue
	refill *time.Timer           // awaitRefill's, reused
	topics map[string]*topicSend // per topic: metadata, stream keys, trimming
	cmds   []*goredis.StringCmd  // per batch entry, reused
	errs   []error               // per batch entry, reused
	rr     uint32                // round-robin partition for keyless -1 sends
}

// topicSend is what the flusher needs to send to a topic, loaded once.
type topicSend struct {
	meta topicMeta
	keys []string // stream key per partition
	trim trim
}

// NewProducer returns a producer with its own connection. ProducerConfig
// fields Redis cannot honour are ignored: Acks (Redis replies to every XADD
// once it is applied in memory; replication is asynchronous), Idempotent,
// BatchBytes and Compression. Linger delays each pipeline by that long to
// collect more sends.
func (r *Redis) NewProducer(ctx context.Context, cfg adapters.ProducerConfig) (adapters.Producer, error) {
	size := r.producerSizing(cfg)
	client, err := r.newClient("brokerbench-producer-"+cfg.ID, adapters.RoleProducers, 2)
	if err != nil {
		return nil, err
	}
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("new producer %q: connect: %w: %w", cfg.ID, adapters.ErrUnavailable, err)
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &producer{
		client:   client,
		r:        r,
		layout:   r.layout,
		size:     size,
		ctx:      pctx,
		cancel:   cancel,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		exited:   make(chan struct{}),
		progress: make(chan struct{}),
		topics:   make(map[string]*topicSend),
		filled:   make(chan struct{}, 1),
	}
	go p.run()
	return p, nil
}

// Send queues m for the next pipeline. It blocks only while MaxInFlight sends
// are outstanding. Key and Value are held, not copied, until done runs. done
// runs on the flusher goroutine and must not block on a Send to this producer
// (that Send could wait for a slot only the flusher frees).
func (p *producer) Send(ctx context.Context, m *adapters.Message, done func(adapters.SendResult, error)) {
	if done == nil {
		done = func(adapters.SendResult, error) {}
	}
	if m == nil {
		done(adapters.SendResult{Partition: -1, Offset: -1}, fmt.Errorf("send: nil message"))
		return
	}
	fail := adapters.SendResult{Partition: m.Partition, Offset: -1}
	p.mu.Lock()
	for !p.closed && p.enqueued-p.completed >= uint64(p.size.inflight) {
		ch := p.progress
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			done(fail, fmt.Errorf("send to %q: wait for in-flight slot: %w", m.Topic, ctx.Err()))
			return
		case <-p.stop:
			done(fail, fmt.Errorf("send to %q: producer %w", m.Topic, adapters.ErrClosed))
			return
		}
		p.mu.Lock()
	}
	if p.closed {
		p.mu.Unlock()
		done(fail, fmt.Errorf("send to %q: producer %w", m.Topic, adapters.ErrClosed))
		return
	}
	p.queue = append(p.queue, pendingSend{topic: m.Topic, partition: m.Partition, key: m.Key, val: m.Value, done: done})
	p.enqueued++
	first := len(p.queue) == 1
	if p.fillAt > 0 && len(p.queue) >= p.fillAt {
		p.fillAt = 0
		select {
		case p.filled <- struct{}{}: // drained by awaitRefill
		default:
		}
	}
	p.mu.Unlock()
	if first {
		// The flusher empties the queue before it waits again, so only
		// the send that makes it non-empty needs to wake it.
		select {
		case p.wake <- struct{}{}:
		default: // already signalled
		}
	}
}

// Flush waits until every send queued before the call has completed.
func (p *producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	target := p.enqueued
	p.mu.Unlock()
	for {
		p.mu.Lock()
		if p.completed >= target {
			p.mu.Unlock()
			return nil
		}
		ch := p.progress
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("flush redis producer: %w", ctx.Err())
		}
	}
}

// Close refuses new sends, flushes, and closes the connection. If ctx ends
// first, sends still in flight or queued complete with an error.
func (p *producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.exited
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.Flush(ctx)
	if err != nil {
		p.cancel() // abort the pipeline in flight
	}
	close(p.stop)
	<-p.exited
	p.cancel()
	if cerr := p.client.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close redis producer: %w", cerr)
	}
	return err
}

// run is the flusher goroutine.
func (p *producer) run() {
	defer close(p.exited)
	for {
		select {
		case <-p.wake:
		case <-p.stop:
			p.failQueued()
			return
		}
		if p.size.linger > 0 && !waitOrStop(p.size.linger, p.stop) {
			p.failQueued()
			return
		}
		for {
			batch := p.take()
			if len(batch) == 0 {
				break
			}
			bound := p.sendBatch(batch)
			p.recycle(batch)
			if bound {
				p.awaitRefill()
			}
		}
	}
}

// take removes up to a pipeline's worth of sends from the queue. The
// common case, a queue that fits one pipeline, swaps it with the previous
// batch's slice (spare) instead of copying it.
func (p *producer) take() []pendingSend {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := min(len(p.queue), p.size.pipeline)
	if n == 0 {
		return nil
	}
	if n == len(p.queue) {
		batch := p.queue
		p.queue, p.spare = p.spare[:0], nil
		return batch
	}
	batch := make([]pendingSend, n)
	copy(batch, p.queue)
	rest := copy(p.queue, p.queue[n:])
	clear(p.queue[rest:])
	p.queue = p.queue[:rest]
	return batch
}

// recycle keeps a sent batch's slice for take to reuse, without the
// references it held.
func (p *producer) recycle(batch []pendingSend) {
	clear(batch)
	p.mu.Lock()
	if p.spare == nil {
		p.spare = batch[:0]
	}
	p.mu.Unlock()
}

// failQueued completes every still-queued send with adapters.ErrClosed.
func (p *producer) failQueued() {
	for {
		batch := p.take()
		if len(batch) == 0 {
			return
		}
		for _, s := range batch {
			s.done(adapters.SendResult{Partition: s.partition, Offset: -1}, fmt.Errorf("send to %q: producer %w before the send", s.topic, adapters.ErrClosed))
		}
		p.finish(len(batch))
	}
}

// finish completes n sends: it frees their in-flight slots and wakes
// Send and Flush waiters.
//
// It reports whether the in-flight window was full, so that Sends may
// have been waiting for these slots.
func (p *producer) finish(n int) (bound bool) {
	p.mu.Lock()
	bound = p.enqueued-p.completed >= uint64(p.size.inflight)
	p.completed += uint64(n)
	close(p.progress)
	p.progress = make(chan struct{})
	p.mu.Unlock()
	return bound
}

// refillWait bounds awaitRefill: about the time a sender needs to queue
// half a pipeline on a loaded machine, far below a round trip's share of
// a max-rate run's latency.
const refillWait = time.Millisecond

// awaitRefill runs after a pipeline that completed with the in-flight
// window full: the senders were waiting for its slots, and the flusher
// would otherwise send the first few they queue as a pipeline of their
// own, then the next few, paying a round trip and its syscalls for each
// (measured: pipelines averaged half the window, and per-message client
// CPU was ~30 % above a raw loop of full pipelines). It waits until half a
// pipeline is queued, refillWait at most. Below the window (a rate the
// server keeps up with) it never runs, so it adds no latency there.
func (p *producer) awaitRefill() {
	p.mu.Lock()
	half := max(p.size.pipeline/2, 1)
	if len(p.queue) >= half || p.closed {
		p.mu.Unlock()
		return
	}
	p.fillAt = half
	p.mu.Unlock()
	if p.refill == nil {
		p.refill = time.NewTimer(refillWait)
	} else {
		p.refill.Reset(refillWait)
	}
	select {
	case <-p.filled:
	case <-p.refill.C:
	case <-p.stop:
	}
	p.refill.Stop()
	p.mu.Lock()
	p.fillAt = 0
	p.mu.Unlock()
	select {
	case <-p.filled: // a signal that raced the timer
	default:
	}
}

// sendBatch sends one pipeline of XADDs (followed by WAIT for durability
// replicated) and runs each send's callback in order.
//
// It reports finish's answer: whether the window was full.
func (p *producer) sendBatch(batch []pendingSend) (bound bool) {
	defer func() { bound = p.finish(len(batch)) }()
	pipe := p.client.Pipeline()
	cmds, errs := p.cmds[:0], p.errs[:0]
	minID := ""
	for i := range batch {
		s := &batch[i]
		t, err := p.topic(s.topic)
		if err == nil {
			err = p.route(s, t.meta.partitions)
		}
		cmds, errs = append(cmds, nil), append(errs, err)
		if err != nil {
			continue
		}
		var vals []any
		if s.key != nil {
			vals = []any{fieldKey, s.key, fieldValue, s.val}
		} else {
			vals = []any{fieldValue, s.val}
		}
		args := &goredis.XAddArgs{
			Stream:     t.keys[s.partition],
			NoMkStream: true, // see createStreams
			Values:     vals,
		}
		switch {
		case t.trim.maxAge > 0:
			if minID == "" {
				minID = strconv.FormatInt(time.Now().Add(-t.trim.maxAge).UnixMilli(), 10)
			}
			args.MinID, args.Approx = minID, true
		case t.trim.maxLen > 0:
			args.MaxLen, args.Approx = t.trim.maxLen, true
		}
		cmds[i] = pipe.XAdd(p.ctx, args)
	}
	p.cmds, p.errs = cmds, errs
	var wait *goredis.Cmd
	if pipe.Len() > 0 {
		if n := p.size.waitReplicas; n > 0 {
			// The Pipeliner interface lacks Wait; WAIT applies to the
			// writes of this connection, the pipeline's.
			wait = pipe.Do(p.ctx, "WAIT", n, p.size.waitTimeout.Milliseconds())
		}
		_, _ = pipe.Exec(p.ctx) // errors are per command, read below
	}
	waitErr := p.waitErr(wait)
	for i, s := range batch {
		res := adapters.SendResult{Partition: s.partition, Offset: -1}
		err := errs[i]
		if err == nil {
			id, xerr := cmds[i].Result()
			switch {
			case errors.Is(xerr, goredis.Nil): // NOMKSTREAM: no such stream
				err = fmt.Errorf("XADD to %q partition %d: stream missing (topic deleted?): %w", s.topic, s.partition, adapters.ErrTopicNotFound)
			case xerr != nil:
				err = fmt.Errorf("XADD to %q partition %d: %w", s.topic, s.partition, xerr)
			case waitErr != nil:
				err = fmt.Errorf("XADD to %q partition %d: %w", s.topic, s.partition, waitErr)
			default:
				res.Offset = IDToOffset(id)
			}
		}
		s.done(res, err)
	}
	clear(cmds)
	clear(errs)
	return false // set by the deferred finish
}

// waitErr is why a pipeline's WAIT (nil: none) did not confirm the quorum
// of replicas: the entries are on the master but a failover could lose
// them, so their sends fail.
func (p *producer) waitErr(wait *goredis.Cmd) error {
	if wait == nil {
		return nil
	}
	got, err := wait.Int64()
	if err != nil {
		return fmt.Errorf("WAIT %d replicas: %w", p.size.waitReplicas, err)
	}
	if got < int64(p.size.waitReplicas) {
		return fmt.Errorf("WAIT: %d of %d replicas acknowledged within %s (stored on the master only)", got, p.size.waitReplicas, p.size.waitTimeout)
	}
	return nil
}

// topic returns what sends to topic need, loading it on first use. Only
// the flusher goroutine calls it.
func (p *producer) topic(topic string) (*topicSend, error) {
	if t, ok := p.topics[topic]; ok {
		return t, nil
	}
	m, err := loadMeta(p.ctx, p.client, topic)
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	t := &topicSend{meta: m, keys: p.layout.streams(topic, m.partitions), trim: p.r.trimFor(m)}
	p.topics[topic] = t
	return t, nil
}

// route resolves Partition -1 (FNV-1a of the key, or round robin without a
// key) and checks the range.
func (p *producer) route(s *pendingSend, partitions int) error {
	if s.partition == -1 {
		if s.key == nil {
			s.partition = int32(p.rr % uint32(partitions))
			p.rr++
		} else {
			h := fnv.New32a()
			_, _ = h.Write(s.key)
			s.partition = int32(h.Sum32() % uint32(partitions))
		}
	}
	if s.partition < 0 || int(s.partition) >= partitions {
		return fmt.Errorf("send to %q partition %d of %d: %w", s.topic, s.partition, partitions, adapters.ErrBadPartition)
	}
	return nil
}
