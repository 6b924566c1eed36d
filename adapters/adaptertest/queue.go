package adaptertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// Queue subtests. They run only on systems with Capabilities.Queue and
// consume with ConsumerConfig.Queue set, so a Kafka adapter uses a share
// group. Each uses its own topic and subscription, as the other subtests do.
//
// "Never redelivered" cannot be observed by waiting a fixed time without
// sleeping, so these subtests use barriers instead: after the decisive
// disposition they publish a second batch and wait until the same
// consumer has accepted all of it (and, where a release is involved, until
// the released message came back). A system that would redeliver a message
// at once has had every chance to do so by then; one that redelivers only
// after an idle time is caught by DeadLettered where it has DeadLetter.

// queueMaxDeliveries is the delivery limit of the poison subtest: 3 is
// within every system's accepted range (Kafka share.delivery.count.limit
// accepts 2 to 10) and keeps the subtest short.
const queueMaxDeliveries = 3

// queueBatch is how many messages each queue-subtest batch holds.
const queueBatch = 10

// queueDelivery is one delivery as a queue subtest saw it.
type queueDelivery struct {
	consumer    int
	count       int // Delivery.DeliveryCount
	redelivered bool
	disp        adapters.Disposition
}

// queueRecorder is the handler of one or more queue consumers of a subtest.
// decide chooses each delivery's disposition from the message and how many
// times the recorder has seen it before (observed, so it works where the
// system reports no delivery count). It is safe for concurrent use.
type queueRecorder struct {
	decide func(id msgID, seen int) adapters.Disposition

	mu        sync.Mutex
	log       map[msgID][]queueDelivery
	malformed []string

	// block, when non-nil, makes the handler wait on it after recording
	// the delivery as held (see held) and before deciding.
	block   chan struct{}
	held    map[msgID]int // messages a blocked handler holds, by consumer
	entered atomic.Int64
}

func newQueueRecorder(decide func(id msgID, seen int) adapters.Disposition) *queueRecorder {
	if decide == nil {
		decide = func(msgID, int) adapters.Disposition { return adapters.Accept }
	}
	return &queueRecorder{decide: decide, log: make(map[msgID][]queueDelivery), held: make(map[msgID]int)}
}

// handler returns the Handler for consumer number i.
func (r *queueRecorder) handler(i int) adapters.Handler {
	return func(d *adapters.Delivery) {
		id, ok := parseKey(d.Key)
		if !ok {
			r.mu.Lock()
			r.malformed = append(r.malformed, fmt.Sprintf("partition %d offset %d: key %x", d.Partition, d.Offset, d.Key))
			r.mu.Unlock()
			return
		}
		if want := valueFor(id); !bytes.Equal(d.Value, want) {
			r.mu.Lock()
			r.malformed = append(r.malformed, fmt.Sprintf("%v: value %x, want %x", id, head(d.Value), head(want)))
			r.mu.Unlock()
		}
		if r.block != nil {
			r.mu.Lock()
			r.held[id] = i
			r.mu.Unlock()
			r.entered.Add(1)
			<-r.block
			return // a crashed consumer's decision must not matter
		}
		r.mu.Lock()
		seen := len(r.log[id])
		r.mu.Unlock()
		disp := r.decide(id, seen)
		d.Disposition = disp
		r.mu.Lock()
		r.log[id] = append(r.log[id], queueDelivery{consumer: i, count: d.DeliveryCount, redelivered: d.Redelivered, disp: disp})
		r.mu.Unlock()
	}
}

// deliveries returns a copy of the deliveries of id.
func (r *queueRecorder) deliveries(id msgID) []queueDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log[id])
}

// accepted reports how many times each message was accepted.
func (r *queueRecorder) accepted() map[msgID]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[msgID]int, len(r.log))
	for id, ds := range r.log {
		for _, d := range ds {
			if d.disp == adapters.Accept {
				out[id]++
			}
		}
	}
	return out
}

// waitAccepted waits until every id in want has been accepted at least once.
func (r *queueRecorder) waitAccepted(t *testing.T, wait time.Duration, want []msgID) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		acc := r.accepted()
		var miss []msgID
		for _, id := range want {
			if acc[id] == 0 {
				miss = append(miss, id)
			}
		}
		if len(miss) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d of %d messages not accepted, e.g. %v; deliveries of %v: %+v",
				wait, len(miss), len(want), miss[:min(len(miss), 10)], miss[0], r.deliveries(miss[0]))
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// check reports malformed deliveries and messages accepted more than once.
func (r *queueRecorder) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.malformed) > 0 {
		t.Errorf("%d malformed deliveries, e.g. %s", len(r.malformed), r.malformed[0])
	}
	for _, id := range slices.SortedFunc(maps.Keys(r.log), cmpID) {
		n := 0
		for _, d := range r.log[id] {
			if d.disp == adapters.Accept {
				n++
			}
		}
		if n > 1 {
			t.Errorf("%v accepted %d times; an accepted message must not be delivered again: %+v", id, n, r.log[id])
		}
	}
}

func cmpID(a, b msgID) int {
	if a.part != b.part {
		return int(a.part - b.part)
	}
	return int(a.seq) - int(b.seq)
}

// countsReported reports whether the system reports delivery counts, judged
// by the first delivery of id, and checks that a first delivery counts 1.
func countsReported(t *testing.T, id msgID, first queueDelivery) bool {
	t.Helper()
	switch first.count {
	case 0:
		return false
	case 1:
		return true
	}
	t.Errorf("%v: first DeliveryCount = %d, want 1 (or 0 when the system cannot count)", id, first.count)
	return true
}

// newQueueTopic creates a topic with a delivery limit and dead-letter choice
// and deletes it when t ends.
func (s *suite) newQueueTopic(t *testing.T, sys adapters.System, partitions, maxDeliveries int, deadLetter bool, subs ...string) string {
	t.Helper()
	name := fmt.Sprintf("bbtest-%s-%s", shortName(t), randomSuffix())
	spec := adapters.TopicSpec{Name: name, Partitions: partitions, Subscriptions: subs, Queue: true,
		MaxDeliveries: maxDeliveries, DeadLetter: deadLetter}
	err := sys.CreateTopic(s.ctxFor(t), spec)
	if errors.Is(err, adapters.ErrNotApplicable) {
		// A system may lack one queue feature (RabbitMQ classic queues
		// count no deliveries, so they cannot enforce a delivery limit):
		// explicit, not silent.
		t.Skipf("not applicable: %v", err)
	}
	if err != nil {
		t.Fatalf("CreateTopic(%+v): %v", spec, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.wait)
		defer cancel()
		if err := sys.DeleteTopic(ctx, name); err != nil {
			t.Errorf("DeleteTopic(%q): %v", name, err)
		}
	})
	return name
}

// queueConsumerConfig is the base configuration of a queue-mode consumer.
func (s *suite) queueConsumerConfig(topic string, partitions int, sub string, maxDeliveries int, h adapters.Handler) adapters.ConsumerConfig {
	return adapters.ConsumerConfig{
		ID:             "bbtest-qconsumer-" + randomSuffix(),
		Topic:          topic,
		Partitions:     partitions,
		Subscription:   sub,
		SessionTimeout: s.sessionTimeout,
		Start:          adapters.StartEarliest,
		Commit:         adapters.CommitInterval,
		CommitInterval: 100 * time.Millisecond,
		Prefetch:       10,
		Handler:        h,
		Queue:          true,
		MaxDeliveries:  maxDeliveries,
	}
}

// requireQueue skips t unless sys has Capabilities.Queue.
func requireQueue(t *testing.T, sys adapters.System) adapters.Capabilities {
	t.Helper()
	caps := sys.Capabilities()
	if !caps.Queue {
		t.Skip("not applicable: Queue")
	}
	return caps
}

// waitDeadLettered polls DeadLettered until it reports want.
func (s *suite) waitDeadLettered(t *testing.T, sys adapters.System, topic, sub string, want int64) {
	t.Helper()
	dlc, ok := sys.(adapters.DeadLetterCounter)
	if !ok {
		t.Fatalf("%T declares DeadLetter but does not implement adapters.DeadLetterCounter", sys)
	}
	ctx := s.ctxFor(t)
	var got int64
	var err error
	deadline := time.Now().Add(s.wait)
	for {
		got, err = dlc.DeadLettered(ctx, topic, sub)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("DeadLettered(%s, %s) = %d, %v; want %d", topic, sub, got, err, want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// testQueueRelease: a released message comes back, intact, with its
// delivery count grown by one, and is then accepted once.
func testQueueRelease(t *testing.T, s *suite) {
	sys := s.system(t)
	requireQueue(t, sys)
	sub := newSubscription()
	topic := s.newQueueTopic(t, sys, 1, 0, false, sub)
	s.produce(t, sys, topic, 1, 0, queueBatch)
	// Release every even message on its first delivery.
	rec := newQueueRecorder(func(id msgID, seen int) adapters.Disposition {
		if seen == 0 && id.seq%2 == 0 {
			return adapters.Release
		}
		return adapters.Accept
	})
	s.startConsumer(t, sys, s.queueConsumerConfig(topic, 1, sub, 0, rec.handler(0)))
	ids := allIDs(1, 0, queueBatch)
	rec.waitAccepted(t, s.wait, ids)
	rec.check(t)
	for _, id := range ids {
		ds := rec.deliveries(id)
		if id.seq%2 != 0 {
			if len(ds) != 1 {
				t.Errorf("%v accepted on first delivery but delivered %d times: %+v", id, len(ds), ds)
			}
			continue
		}
		if len(ds) != 2 {
			t.Errorf("%v released once: delivered %d times, want 2: %+v", id, len(ds), ds)
			continue
		}
		if countsReported(t, id, ds[0]) && ds[1].count != 2 {
			t.Errorf("%v: DeliveryCount after one release = %d, want 2", id, ds[1].count)
		}
	}
}

// testQueueReject: a rejected message is never delivered again, and is
// counted by DeadLettered when the system has dead-letter destinations.
func testQueueReject(t *testing.T, s *suite) {
	sys := s.system(t)
	caps := requireQueue(t, sys)
	sub := newSubscription()
	topic := s.newQueueTopic(t, sys, 1, 0, caps.DeadLetter, sub)
	s.produce(t, sys, topic, 1, 0, queueBatch)
	// Reject every third message of the first batch; release message 1
	// once, so that its return proves redelivery was possible meanwhile.
	rejected := func(id msgID) bool { return id.seq < queueBatch && id.seq%3 == 0 }
	rec := newQueueRecorder(func(id msgID, seen int) adapters.Disposition {
		switch {
		case rejected(id):
			return adapters.Reject
		case id.seq == 1 && seen == 0:
			return adapters.Release
		}
		return adapters.Accept
	})
	s.startConsumer(t, sys, s.queueConsumerConfig(topic, 1, sub, 0, rec.handler(0)))
	var want []msgID
	nRejected := 0
	for _, id := range allIDs(1, 0, queueBatch) {
		if rejected(id) {
			nRejected++
		} else {
			want = append(want, id)
		}
	}
	rec.waitAccepted(t, s.wait, want)
	if caps.DeadLetter {
		s.waitDeadLettered(t, sys, topic, sub, int64(nRejected))
	}
	// Barrier: a second batch flows through the same consumer.
	s.produce(t, sys, topic, 1, queueBatch, queueBatch)
	rec.waitAccepted(t, s.wait, allIDs(1, queueBatch, queueBatch))
	rec.check(t)
	for _, id := range allIDs(1, 0, queueBatch) {
		if ds := rec.deliveries(id); rejected(id) && len(ds) != 1 {
			t.Errorf("rejected %v delivered %d times, want 1: %+v", id, len(ds), ds)
		}
	}
	if caps.DeadLetter {
		s.waitDeadLettered(t, sys, topic, sub, int64(nRejected))
	}
}

// testQueuePoison: a message that is always released is delivered exactly
// MaxDeliveries times and then dead-lettered or archived, while the other
// messages flow.
func testQueuePoison(t *testing.T, s *suite) {
	sys := s.system(t)
	caps := requireQueue(t, sys)
	sub := newSubscription()
	topic := s.newQueueTopic(t, sys, 1, queueMaxDeliveries, caps.DeadLetter, sub)
	poison := msgID{part: 0, seq: 0}
	s.produce(t, sys, topic, 1, 0, queueBatch)
	rec := newQueueRecorder(func(id msgID, _ int) adapters.Disposition {
		if id == poison {
			return adapters.Release
		}
		return adapters.Accept
	})
	s.startConsumer(t, sys, s.queueConsumerConfig(topic, 1, sub, queueMaxDeliveries, rec.handler(0)))
	rec.waitAccepted(t, s.wait, allIDs(1, 1, queueBatch-1))
	WaitFor(t, s.wait, fmt.Sprintf("the poison message to be delivered %d times", queueMaxDeliveries), func() bool {
		return len(rec.deliveries(poison)) >= queueMaxDeliveries
	})
	if caps.DeadLetter {
		s.waitDeadLettered(t, sys, topic, sub, 1)
	}
	// Barrier: a further delivery of the poison message would come as
	// quickly as the earlier ones did.
	s.produce(t, sys, topic, 1, queueBatch, queueBatch)
	rec.waitAccepted(t, s.wait, allIDs(1, queueBatch, queueBatch))
	rec.check(t)
	ds := rec.deliveries(poison)
	if len(ds) != queueMaxDeliveries {
		t.Fatalf("poison message delivered %d times with MaxDeliveries %d: %+v", len(ds), queueMaxDeliveries, ds)
	}
	if countsReported(t, poison, ds[0]) {
		for i, d := range ds {
			if d.count != i+1 {
				t.Errorf("poison delivery #%d has DeliveryCount %d, want %d", i+1, d.count, i+1)
			}
		}
	}
	if caps.DeadLetter {
		s.waitDeadLettered(t, sys, topic, sub, 1)
	}
}

// testQueueCompeting: two queue consumers of one subscription together
// accept every message exactly once while nothing is released or crashes.
func testQueueCompeting(t *testing.T, s *suite) {
	sys := s.system(t)
	requireQueue(t, sys)
	parts := s.partitionsFor(sys)
	sub := newSubscription()
	topic := s.newQueueTopic(t, sys, parts, 0, false, sub)
	rec := newQueueRecorder(nil)
	for i := range 2 {
		s.startConsumer(t, sys, s.queueConsumerConfig(topic, parts, sub, 0, rec.handler(i)))
	}
	s.produce(t, sys, topic, parts, 0, s.perPartition)
	ids := allIDs(parts, 0, s.perPartition)
	rec.waitAccepted(t, s.wait, ids)
	rec.check(t)
	perConsumer := [2]int{}
	for _, id := range ids {
		ds := rec.deliveries(id)
		if len(ds) != 1 {
			t.Errorf("%v delivered %d times to the subscription, want 1: %+v", id, len(ds), ds)
		}
		for _, d := range ds {
			perConsumer[d.consumer]++
		}
	}
	// Not asserted: a fast consumer may legitimately take everything.
	t.Logf("deliveries per consumer: %v", perConsumer)
}

// testQueueCrash: the messages a queue consumer holds unacknowledged when
// it crashes are redelivered to another consumer of the subscription
// (within SessionTimeout), and a handler returning after Crash acks
// nothing.
func testQueueCrash(t *testing.T, s *suite) {
	sys := s.system(t)
	requireQueue(t, sys)
	sub := newSubscription()
	topic := s.newQueueTopic(t, sys, 1, 0, false, sub)
	s.produce(t, sys, topic, 1, 0, queueBatch)

	stuck := newQueueRecorder(nil)
	stuck.block = make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(stuck.block) }) }
	t.Cleanup(release)
	cfg := s.queueConsumerConfig(topic, 1, sub, 0, stuck.handler(0))
	cfg.Prefetch = 3 // leave messages for the second consumer meanwhile
	c1 := s.startConsumer(t, sys, cfg)
	WaitFor(t, s.wait, "the first consumer's handler to be called", func() bool { return stuck.entered.Load() > 0 })

	rec := newQueueRecorder(nil)
	s.startConsumer(t, sys, s.queueConsumerConfig(topic, 1, sub, 0, rec.handler(1)))

	crashed := make(chan struct{})
	go func() {
		defer close(crashed)
		c1.crash(t)
	}()
	select {
	case <-crashed:
	case <-time.After(s.wait):
		t.Fatalf("Crash did not return within %v while a handler was blocked", s.wait)
	}
	release() // the crashed consumer's handlers now return; nothing may be acked

	stuck.mu.Lock()
	held := slices.SortedFunc(maps.Keys(stuck.held), cmpID)
	stuck.mu.Unlock()
	t.Logf("crashed consumer held %v", held)
	rec.waitAccepted(t, s.wait+3*s.sessionTimeout, allIDs(1, 0, queueBatch))
	rec.check(t)
	for _, id := range held {
		// Logged, not asserted: whether a crash counts as a delivery
		// differs by system (RabbitMQ quorum queues count only explicit
		// returns in some versions).
		if ds := rec.deliveries(id); len(ds) > 0 {
			t.Logf("%v redelivered after the crash with DeliveryCount %d, Redelivered %v", id, ds[0].count, ds[0].redelivered)
		}
	}
}

// testQueueBadInput: a negative delivery limit is refused by CreateTopic
// and NewConsumer, and DeadLettered of a topic that does not exist is an
// error, not a zero.
func testQueueBadInput(t *testing.T, s *suite) {
	sys := s.system(t)
	caps := requireQueue(t, sys)
	ctx := s.ctxFor(t)
	bad := adapters.TopicSpec{Name: "bbtest-bad-" + randomSuffix(), Partitions: 1, Queue: true, MaxDeliveries: -1}
	if err := sys.CreateTopic(ctx, bad); err == nil {
		_ = sys.DeleteTopic(ctx, bad.Name)
		t.Error("CreateTopic with MaxDeliveries -1 succeeded")
	}
	sub := newSubscription()
	topic := s.newQueueTopic(t, sys, 1, 0, false, sub)
	cfg := s.queueConsumerConfig(topic, 1, sub, -1, func(*adapters.Delivery) {})
	if c, err := sys.NewConsumer(ctx, cfg); err == nil {
		_ = c.Crash()
		t.Error("NewConsumer with MaxDeliveries -1 succeeded")
	}
	if counter, ok := sys.(adapters.DeadLetterCounter); ok && caps.DeadLetter {
		if _, err := counter.DeadLettered(ctx, "bbtest-missing-"+randomSuffix(), sub); err == nil {
			t.Error("DeadLettered of a missing topic succeeded")
		}
	}
}
