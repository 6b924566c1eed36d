package adaptertest

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// msgID identifies one suite message; it is encoded in the message key.
type msgID struct {
	part int32
	seq  uint32
}

func (id msgID) String() string { return fmt.Sprintf("p%d/#%d", id.part, id.seq) }

// keyFor encodes id as a 10-byte key that starts with 0x00 0xff so that
// adapters which treat keys as C strings or UTF-8 are caught.
func keyFor(id msgID) []byte {
	k := make([]byte, 10)
	k[0], k[1] = 0x00, 0xff
	binary.BigEndian.PutUint32(k[2:], uint32(id.part))
	binary.BigEndian.PutUint32(k[6:], id.seq)
	return k
}

func parseKey(k []byte) (msgID, bool) {
	if len(k) != 10 || k[0] != 0x00 || k[1] != 0xff {
		return msgID{}, false
	}
	return msgID{part: int32(binary.BigEndian.Uint32(k[2:])), seq: binary.BigEndian.Uint32(k[6:])}, true
}

// valueFor derives the value deterministically from id, cycling through the
// shapes that break non-binary-safe adapters: all 256 byte values, empty,
// and pseudo-random bytes of varying length.
func valueFor(id msgID) []byte {
	switch id.seq % 3 {
	case 0:
		v := make([]byte, 256)
		for i := range v {
			v[i] = byte(i)
		}
		return v
	case 1:
		return []byte{}
	default:
		r := rand.New(rand.NewPCG(uint64(id.part), uint64(id.seq)))
		v := make([]byte, 1+r.IntN(200))
		for i := range v {
			v[i] = byte(r.UintN(256))
		}
		return v
	}
}

// randomSuffix returns 12 random hex characters for unique names.
func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = crand.Read(b) // never fails on supported platforms
	return hex.EncodeToString(b)
}

// newSystem connects a System for t and closes it when t ends.
func (s *suite) system(t *testing.T) adapters.System {
	t.Helper()
	sys := s.newSystem(t)
	if sys == nil {
		t.Fatal("newSystem returned nil")
	}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Errorf("System.Close: %v", err)
		}
	})
	return sys
}

// partitionsFor is the partition count to use on sys.
func (s *suite) partitionsFor(sys adapters.System) int {
	if sys.Capabilities().Partitions {
		return s.partitions
	}
	return 1
}

// newTopic creates a topic named after the test with a random suffix, with
// subscriptions provisioned, and deletes it when t ends.
func (s *suite) newTopic(t *testing.T, sys adapters.System, partitions int, subs ...string) string {
	t.Helper()
	name := fmt.Sprintf("bbtest-%s-%s", shortName(t), randomSuffix())
	spec := adapters.TopicSpec{Name: name, Partitions: partitions, Subscriptions: subs}
	if err := sys.CreateTopic(s.ctxFor(t), spec); err != nil {
		t.Fatalf("CreateTopic(%q, %d partitions): %v", name, partitions, err)
	}
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), s.wait)
		defer cancel()
		if err := sys.DeleteTopic(ctx, name); err != nil {
			t.Errorf("DeleteTopic(%q): %v", name, err)
		}
	})
	return name
}

func shortName(t *testing.T) string {
	var b []byte
	for _, r := range []byte(t.Name()) {
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b = append(b, r)
		}
	}
	if len(b) > 24 {
		b = b[len(b)-24:]
	}
	return string(b)
}

func newSubscription() string { return "bbsub-" + randomSuffix() }

// produced is what a produce call observed.
type produced struct {
	results map[msgID]adapters.SendResult
	order   []msgID // send order
}

// produce sends perPartition messages with sequence numbers starting at
// firstSeq into every partition, flushes, and checks that every done callback
// ran exactly once without error and reported the requested partition.
func (s *suite) produce(t *testing.T, sys adapters.System, topic string, partitions, firstSeq, perPartition int) produced {
	t.Helper()
	ctx := s.ctxFor(t)
	caps := sys.Capabilities()
	p, err := sys.NewProducer(ctx, adapters.ProducerConfig{
		ID:         "bbtest-producer-" + randomSuffix(),
		Acks:       adapters.AcksAll,
		Idempotent: caps.Idempotence,
	})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	defer func() {
		if err := p.Close(ctx); err != nil {
			t.Errorf("Producer.Close: %v", err)
		}
	}()
	out := produced{results: make(map[msgID]adapters.SendResult)}
	var mu sync.Mutex
	var done atomic.Int64
	for seq := firstSeq; seq < firstSeq+perPartition; seq++ {
		for part := range partitions {
			id := msgID{part: int32(part), seq: uint32(seq)}
			out.order = append(out.order, id)
			m := &adapters.Message{Topic: topic, Partition: id.part, Key: keyFor(id), Value: valueFor(id)}
			var once atomic.Bool
			p.Send(ctx, m, func(r adapters.SendResult, err error) {
				if !once.CompareAndSwap(false, true) {
					t.Errorf("done called twice for %v", id)
					return
				}
				defer done.Add(1)
				if err != nil {
					t.Errorf("send %v: %v", id, err)
					return
				}
				if r.Partition != id.part {
					t.Errorf("send %v: SendResult.Partition = %d, want %d", id, r.Partition, id.part)
				}
				mu.Lock()
				out.results[id] = r
				mu.Unlock()
			})
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Producer.Flush: %v", err)
	}
	if n, want := done.Load(), int64(len(out.order)); n != want {
		t.Errorf("Flush returned with %d of %d done callbacks run", n, want)
		WaitFor(t, s.wait, "all done callbacks", func() bool { return done.Load() == want })
	}
	mu.Lock()
	defer mu.Unlock()
	checkOffsets(t, out.results)
	return out
}

// checkOffsets checks that real offsets are non-negative and unique per
// partition.
func checkOffsets(t *testing.T, results map[msgID]adapters.SendResult) {
	t.Helper()
	seen := make(map[[2]int64]msgID)
	for id, r := range results {
		if r.Offset == -1 {
			continue
		}
		if r.Offset < 0 {
			t.Errorf("send %v: negative offset %d", id, r.Offset)
			continue
		}
		k := [2]int64{int64(r.Partition), r.Offset}
		if other, dup := seen[k]; dup {
			t.Errorf("sends %v and %v both got partition %d offset %d", id, other, r.Partition, r.Offset)
		}
		seen[k] = id
	}
}

// collector records what one consumer's handler saw. Its handler copies
// every delivery because adapters may reuse slices after it returns.
type collector struct {
	mu        sync.Mutex
	got       map[msgID]adapters.Delivery // first delivery of each message
	count     map[msgID]int
	arrival   map[int32][]msgID // per-partition arrival order
	malformed []string
	total     int
	// block, when non-nil, makes the handler wait on it before returning.
	block chan struct{}
	// entered counts handler calls that have started.
	entered atomic.Int64
	// after, when non-nil, is called by the handler after recording a
	// delivery, with the number of distinct messages seen so far.
	after func(distinct int)
}

func newCollector() *collector {
	return &collector{
		got:     make(map[msgID]adapters.Delivery),
		count:   make(map[msgID]int),
		arrival: make(map[int32][]msgID),
	}
}

func (c *collector) handle(d *adapters.Delivery) {
	c.entered.Add(1)
	if c.block != nil {
		<-c.block
	}
	cp := *d
	cp.Key = bytes.Clone(d.Key)
	cp.Value = bytes.Clone(d.Value)
	if n, ok := c.record(cp); ok && c.after != nil {
		c.after(n) // outside the lock: it may block
	}
}

// record stores a copied delivery and returns the number of distinct
// messages seen, or false for a delivery with a key the suite did not send.
func (c *collector) record(d adapters.Delivery) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total++
	id, ok := parseKey(d.Key)
	if !ok {
		c.malformed = append(c.malformed, fmt.Sprintf("partition %d offset %d: key %x", d.Partition, d.Offset, d.Key))
		return 0, false
	}
	if _, dup := c.got[id]; !dup {
		c.got[id] = d
	}
	c.count[id]++
	c.arrival[d.Partition] = append(c.arrival[d.Partition], id)
	return len(c.got), true
}

// snapshot returns a copy of the set of distinct messages seen.
func (c *collector) snapshot() map[msgID]adapters.Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[msgID]adapters.Delivery, len(c.got))
	for k, v := range c.got {
		out[k] = v
	}
	return out
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// checkContents verifies that every delivery in got matches what was sent:
// partition, key, value, and offset when both sides report one.
func checkContents(t *testing.T, got map[msgID]adapters.Delivery, sent map[msgID]adapters.SendResult, topic string) {
	t.Helper()
	for id, d := range got {
		if d.Topic != topic {
			t.Errorf("%v: Delivery.Topic = %q, want %q", id, d.Topic, topic)
		}
		if d.Partition != id.part {
			t.Errorf("%v: Delivery.Partition = %d, want %d", id, d.Partition, id.part)
		}
		if want := valueFor(id); !bytes.Equal(d.Value, want) {
			t.Errorf("%v: value mismatch: got %d bytes %x, want %d bytes %x", id, len(d.Value), head(d.Value), len(want), head(want))
		}
		r, ok := sent[id]
		if !ok {
			continue
		}
		if r.Offset != -1 && d.Offset != -1 && r.Offset != d.Offset {
			t.Errorf("%v: Delivery.Offset = %d, SendResult.Offset = %d", id, d.Offset, r.Offset)
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

// consumer wraps a started consumer so the test's cleanup closes it only if
// the test has not already closed or crashed it.
type consumer struct {
	adapters.Consumer
	stopped atomic.Bool
}

func (c *consumer) close(t *testing.T, ctx context.Context) {
	t.Helper()
	if c.stopped.CompareAndSwap(false, true) {
		if err := c.Close(ctx); err != nil {
			t.Errorf("Consumer.Close: %v", err)
		}
	}
}

func (c *consumer) crash(t *testing.T) {
	t.Helper()
	if c.stopped.CompareAndSwap(false, true) {
		if err := c.Crash(); err != nil {
			t.Errorf("Consumer.Crash: %v", err)
		}
	}
}

// consumerConfig returns the suite's base consumer configuration.
func (s *suite) consumerConfig(topic string, partitions int, sub string, c *collector) adapters.ConsumerConfig {
	return adapters.ConsumerConfig{
		ID:             "bbtest-consumer-" + randomSuffix(),
		Topic:          topic,
		Partitions:     partitions,
		Subscription:   sub,
		SessionTimeout: s.sessionTimeout,
		Start:          adapters.StartEarliest,
		Commit:         adapters.CommitInterval,
		CommitInterval: 100 * time.Millisecond,
		Handler:        c.handle,
	}
}

// startConsumer starts a consumer and closes it when t ends unless the test
// stopped it first.
func (s *suite) startConsumer(t *testing.T, sys adapters.System, cfg adapters.ConsumerConfig) *consumer {
	t.Helper()
	c, err := sys.NewConsumer(s.ctxFor(t), cfg)
	if err != nil {
		t.Fatalf("NewConsumer(%s, subscription %s): %v", cfg.ID, cfg.Subscription, err)
	}
	wc := &consumer{Consumer: c}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.wait)
		defer cancel()
		wc.close(t, ctx)
	})
	return wc
}

// allIDs lists every id of perPartition messages from firstSeq in partitions.
func allIDs(partitions, firstSeq, perPartition int) []msgID {
	var ids []msgID
	for part := range partitions {
		for seq := firstSeq; seq < firstSeq+perPartition; seq++ {
			ids = append(ids, msgID{part: int32(part), seq: uint32(seq)})
		}
	}
	return ids
}

// missing lists up to 10 ids in want that got lacks, for error messages.
func missing(want []msgID, got map[msgID]adapters.Delivery) []msgID {
	var out []msgID
	for _, id := range want {
		if _, ok := got[id]; !ok {
			out = append(out, id)
			if len(out) == 10 {
				break
			}
		}
	}
	return out
}

// waitAll waits until the union of collectors has seen every id in want.
func (s *suite) waitAll(t *testing.T, want []msgID, cs ...*collector) {
	t.Helper()
	deadline := time.Now().Add(s.wait)
	for {
		union := make(map[msgID]adapters.Delivery)
		for _, c := range cs {
			for k, v := range c.snapshot() {
				union[k] = v
			}
		}
		miss := missing(want, union)
		if len(miss) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d of %d messages received; missing e.g. %v", s.wait, len(want)-countMissing(want, union), len(want), miss)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

func countMissing(want []msgID, got map[msgID]adapters.Delivery) int {
	n := 0
	for _, id := range want {
		if _, ok := got[id]; !ok {
			n++
		}
	}
	return n
}
