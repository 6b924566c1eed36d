package runner

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/internal/kafkahash"
	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/workloads"
)

// lateThreshold is how far behind its intended time a send may start before
// it counts as late: the load generator, not the broker, fell behind.
const lateThreshold = time.Millisecond

// producer drives one adapters.Producer on an open-loop schedule.
type producer struct {
	run        *run
	id         uint32
	topic      string
	topicIdx   int
	partitions int
	// client is the current adapter producer; a producer crash (a chaos
	// client fault) swaps in a new one while the loop runs.
	client   atomic.Pointer[producerClient]
	cfg      adapters.ProducerConfig
	rate     float64 // msg/s for this producer; 0 = closed loop
	keys     workloads.KeyChooser
	payloads [][]byte // payload pool; nil = payload copied once per slot
	slots    chan *slot

	// latency records, per ack and under one lock, the kinds
	// kindPublish (intended -> ack, corrected), kindPublishFromSend
	// (actual send -> ack) and kindPublishDelay (intended -> actual send).
	latency *metrics.Group

	// The send loop and the completion callbacks run on different
	// goroutines, usually on different cores: what each writes per
	// message sits on its own cache lines, apart from the fields both
	// only read, so neither invalidates the other's lines per message.
	_ [cacheLine]byte

	// Written by the send loop.
	sent, late    atomic.Int64
	nextPartition int32
	_             [cacheLine]byte

	// Written by the completion callbacks.
	mu             sync.Mutex
	acked          bitset // sequence numbers acknowledged
	ackedN, failed atomic.Int64
	// poisonAcked counts acknowledged poison messages (queue mode), which
	// no subscription will ever accept; guarded by mu with acked.
	poisonAcked atomic.Int64
	_           [cacheLine]byte
}

// cacheLine is the padding that keeps fields written by different
// goroutines off each other's cache lines (64 bytes on amd64 and arm64).
const cacheLine = 64

// slot is one in-flight message with its own buffers, so the hot path
// allocates nothing: the slot returns to the free list when its send
// completes.
type slot struct {
	pr       *producer
	msg      adapters.Message
	keyBuf   []byte
	proc     int // history process of the client that sent it; see recorder
	seq      uint64
	intended int64
	sentAt   int64
	done     func(adapters.SendResult, error)
}

func newSlots(pr *producer, n, size int, payload []byte) {
	pr.slots = make(chan *slot, n)
	for range n {
		s := &slot{pr: pr, keyBuf: make([]byte, 0, 24)}
		s.msg.Topic = pr.topic
		s.msg.Value = make([]byte, size)
		copy(s.msg.Value[HeaderSize:], payload)
		s.done = s.complete // bound once: no closure per send
		pr.slots <- s
	}
}

// loop sends until stop is closed or ctx is done. Message i is due at
// start + i/rate whatever happened to message i-1: a slow ack delays the
// send, never the schedule, and the delay shows up in the corrected
// latency and the late count.
func (pr *producer) loop(ctx context.Context, start time.Time, stop <-chan struct{}) {
	var interval time.Duration
	if pr.rate > 0 {
		interval = time.Duration(float64(time.Second) / pr.rate)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := uint64(0); ; i++ {
		if resume := pr.run.paused.Load(); resume != nil {
			at := time.Now()
			select {
			case <-*resume:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
			// The schedule resumes where it paused: messages not sent
			// during a pause are not owed, so none counts as late.
			start = start.Add(time.Since(at))
		}
		var due time.Time
		if interval > 0 {
			due = start.Add(time.Duration(i) * interval)
			if wait := time.Until(due); wait > 50*time.Microsecond {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-stop:
					return
				case <-ctx.Done():
					return
				}
			}
		}
		s := pr.acquire(ctx, stop)
		if s == nil {
			return
		}
		now := pr.run.now()
		if interval == 0 {
			due = pr.run.epoch.Add(time.Duration(now))
		}
		pr.send(ctx, s, i, pr.run.since(due), now)
	}
}

// acquire takes a free slot, or returns nil when the run stops. A free
// slot is usually waiting, so the common case is one non-blocking receive
// rather than a three-way select per message.
func (pr *producer) acquire(ctx context.Context, stop <-chan struct{}) *slot {
	var s *slot
	select {
	case s = <-pr.slots:
	default:
		select {
		case s = <-pr.slots:
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
	select {
	case <-stop:
		pr.slots <- s
		return nil
	default:
		return s
	}
}

func (pr *producer) send(ctx context.Context, s *slot, seq uint64, intended, now int64) {
	s.seq, s.intended, s.sentAt = seq, intended, now
	if pr.payloads != nil {
		copy(s.msg.Value[HeaderSize:], pr.payloads[seq%uint64(len(pr.payloads))])
	}
	putHeader(s.msg.Value, header{producer: pr.id, seq: seq, intended: intended, sent: now})
	s.msg.Key, s.msg.Partition = pr.route(s.keyBuf[:0])
	if now-intended > int64(lateThreshold) {
		pr.late.Add(1)
	}
	pr.sent.Add(1)
	pc := pr.client.Load()
	s.proc = pc.proc
	if h := pr.run.hist; h != nil {
		h.send(s.proc, pr.run.topics[pr.topicIdx].keys[s.msg.Partition], messageValue(pr.id, seq))
	}
	pc.Send(ctx, &s.msg, s.done)
}

// route picks the key and partition of the next message. Keys are placed
// with Kafka's default partitioner, so every system places them alike, and
// like a real Kafka producer.
func (pr *producer) route(buf []byte) ([]byte, int32) {
	k, ok := pr.keys.Next()
	if !ok {
		// No key: round robin, starting at a producer-specific partition
		// so several producers spread evenly from the first message.
		p := (pr.nextPartition + int32(pr.id)) % int32(pr.partitions)
		pr.nextPartition++
		return nil, p
	}
	buf = append(buf, "key-"...)
	buf = strconv.AppendInt(buf, int64(k), 10)
	return buf, kafkahash.Partition(buf, pr.partitions)
}

// complete is the send callback; it may run on any goroutine.
func (s *slot) complete(res adapters.SendResult, err error) {
	pr := s.pr
	ack := pr.run.now()
	if h := pr.run.hist; h != nil {
		h.sendDone(s.proc, pr.run.topics[pr.topicIdx].keys[s.msg.Partition], messageValue(pr.id, s.seq), res.Offset, err)
	}
	if err != nil {
		pr.failed.Add(1)
		pr.run.noteSendError(err)
	} else {
		pr.ackedN.Add(1)
		// Indexed by kindPublish, kindPublishFromSend, kindPublishDelay.
		pr.latency.Record(time.Duration(ack-s.intended), time.Duration(ack-s.sentAt), time.Duration(s.sentAt-s.intended))
		pr.mu.Lock()
		pr.acked.set(s.seq)
		if isPoison(pr.run.w.Queue, pr.id, s.seq) {
			pr.poisonAcked.Add(1)
		}
		pr.mu.Unlock()
		pr.run.topics[pr.topicIdx].acked[s.msg.Partition].Add(1)
	}
	pr.slots <- s
}

// producerClient boxes an adapters.Producer for atomic.Pointer, with the
// history process its sends are recorded under: one process per client,
// with many sends in flight, so the checker compares the order of a
// pipelining client's sends (nonmonotonic-send) as Elle does.
type producerClient struct {
	adapters.Producer
	proc int
}

// current is the adapter producer sends go to now.
func (pr *producer) current() adapters.Producer { return pr.client.Load().Producer }

// inFlight is the number of sends not yet completed.
func (pr *producer) inFlight() int64 {
	return pr.sent.Load() - pr.ackedN.Load() - pr.failed.Load()
}
