package adaptertest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// Assignment tracks one consumer's current partitions from its
// OnAssigned and OnRevoked callbacks: set ConsumerConfig.OnAssigned to
// Assigned and OnRevoked to Revoked. The zero value is ready; its methods
// are safe for concurrent use, as consumer callbacks need.
type Assignment struct {
	mu  sync.Mutex
	cur map[int32]bool
}

// Assigned adds ps to the current partitions.
func (a *Assignment) Assigned(ps []int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur == nil {
		a.cur = make(map[int32]bool)
	}
	for _, p := range ps {
		a.cur[p] = true
	}
}

// Revoked removes ps from the current partitions.
func (a *Assignment) Revoked(ps []int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range ps {
		delete(a.cur, p)
	}
}

// Partitions returns the current partitions in ascending order.
func (a *Assignment) Partitions() []int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int32
	for p := range a.cur {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// splitStable reports whether as partition [0, parts) among the consumers
// with every consumer holding at least one partition.
func splitStable(parts int, as ...*Assignment) bool {
	owned := make(map[int32]int)
	for _, a := range as {
		ps := a.Partitions()
		if len(ps) == 0 {
			return false
		}
		for _, p := range ps {
			owned[p]++
		}
	}
	for p := range int32(parts) {
		if owned[p] != 1 {
			return false
		}
	}
	return len(owned) == parts
}

// testGroupSplit: two consumers of one subscription share the messages, each
// getting some, and together see all of them.
func testGroupSplit(t *testing.T, s *suite) {
	sys := s.system(t)
	caps := sys.Capabilities()
	if !caps.ConsumerGroups {
		t.Skip("not applicable: ConsumerGroups")
	}
	parts := s.partitionsFor(sys)
	if caps.Rebalance && parts < 2 {
		parts = 2 // partition-assigning systems need two partitions to split
	}
	sub := newSubscription()
	topic := s.newTopic(t, sys, parts, sub)
	cols := []*collector{newCollector(), newCollector()}
	asg := []*Assignment{{}, {}}
	for i := range cols {
		cfg := s.consumerConfig(topic, parts, sub, cols[i])
		cfg.Prefetch = 10 // keep one queue consumer from grabbing everything
		cfg.OnAssigned, cfg.OnRevoked = asg[i].Assigned, asg[i].Revoked
		s.startConsumer(t, sys, cfg)
	}
	if caps.Rebalance {
		// Produce only once the group has settled, so each consumer owns
		// partitions that will receive messages.
		WaitFor(t, s.wait, "both consumers to own disjoint partitions covering the topic", func() bool {
			return splitStable(parts, asg...)
		})
		t.Logf("assignment: %v / %v", asg[0].Partitions(), asg[1].Partitions())
	}
	s.produce(t, sys, topic, parts, 0, s.perPartition)
	want := allIDs(parts, 0, s.perPartition)
	s.waitAll(t, want, cols...)
	for i, c := range cols {
		if c.distinct() == 0 {
			t.Errorf("consumer %d received nothing; the subscription did not split the messages", i)
		}
	}
	a, b := cols[0].snapshot(), cols[1].snapshot()
	both := 0
	for id := range a {
		if _, ok := b[id]; ok {
			both++
		}
	}
	if both > 0 {
		// Not an error: at-least-once allows redelivery after a spurious
		// rebalance, but it is worth seeing.
		t.Logf("%d messages were delivered to both consumers", both)
	}
}

// testFanOut: two subscriptions each see every message.
func testFanOut(t *testing.T, s *suite) {
	sys := s.system(t)
	parts := s.partitionsFor(sys)
	subA, subB := newSubscription(), newSubscription()
	topic := s.newTopic(t, sys, parts, subA, subB)
	sent := s.produce(t, sys, topic, parts, 0, s.perPartition)
	ca, cb := newCollector(), newCollector()
	s.startConsumer(t, sys, s.consumerConfig(topic, parts, subA, ca))
	s.startConsumer(t, sys, s.consumerConfig(topic, parts, subB, cb))
	want := allIDs(parts, 0, s.perPartition)
	s.waitAll(t, want, ca)
	s.waitAll(t, want, cb)
	checkContents(t, ca.snapshot(), sent.results, topic)
	checkContents(t, cb.snapshot(), sent.results, topic)
}

// testCloseResume: after a graceful Close, a new consumer of the same
// subscription gets every message the first one did not handle, and none
// that it did (Close commits or acks what was handled).
func testCloseResume(t *testing.T, s *suite) {
	sys := s.system(t)
	parts := s.partitionsFor(sys)
	sub := newSubscription()
	topic := s.newTopic(t, sys, parts, sub)
	s.produce(t, sys, topic, parts, 0, s.perPartition)
	// The first consumer pauses inside its handler after a third of the
	// messages; Close is then called while it is paused, so Close has to
	// wait for the handler and commit exactly what was handled. A small
	// prefetch leaves work for the second consumer.
	total := parts * s.perPartition
	gate := make(chan struct{})
	first := newCollector()
	first.after = func(n int) {
		if n == total/3 {
			<-gate
		}
	}
	cfg := s.consumerConfig(topic, parts, sub, first)
	cfg.Prefetch = 10
	c1 := s.startConsumer(t, sys, cfg)
	WaitFor(t, s.wait, "first consumer to handle a third of the messages", func() bool {
		return first.distinct() >= total/3
	})
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		c1.close(t, s.ctxFor(t))
	}()
	// Release the handler a little after Close has been called. Nothing
	// depends on this delay for correctness (the assertions hold however
	// the race goes); it only makes it likely that Close has stopped
	// polling before the handler returns, so that the second consumer
	// really resumes mid-stream rather than after everything was handled.
	time.AfterFunc(200*time.Millisecond, func() { close(gate) })
	<-closed
	handled := first.snapshot() // Close has returned: nothing more is handled
	t.Logf("first consumer handled %d of %d before Close", len(handled), total)

	s.produce(t, sys, topic, parts, s.perPartition, s.perPartition)
	second := newCollector()
	s.startConsumer(t, sys, s.consumerConfig(topic, parts, sub, second))
	s.waitAll(t, allIDs(parts, 0, 2*s.perPartition), first, second)
	again := 0
	for id := range second.snapshot() {
		if _, ok := handled[id]; ok {
			again++
		}
	}
	if again > 0 {
		t.Errorf("%d messages handled before the graceful Close were delivered again; Close must commit or ack what was handled", again)
	}
}

// testCrashRedelivery: messages a consumer held when it crashed are
// delivered to another consumer of the subscription once the system notices
// (within SessionTimeout).
func testCrashRedelivery(t *testing.T, s *suite) {
	sys := s.system(t)
	parts := s.partitionsFor(sys)
	sub := newSubscription()
	topic := s.newTopic(t, sys, parts, sub)
	s.produce(t, sys, topic, parts, 0, s.perPartition)

	stuck := newCollector()
	stuck.block = make(chan struct{})
	released := false
	release := func() {
		if !released {
			released = true
			close(stuck.block)
		}
	}
	t.Cleanup(release)
	c1 := s.startConsumer(t, sys, s.consumerConfig(topic, parts, sub, stuck))
	WaitFor(t, s.wait, "the first consumer's handler to be called", func() bool { return stuck.entered.Load() > 0 })

	// Crash while a handler is blocked: it must return without waiting for
	// the handler, as a killed process would.
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

	second := newCollector()
	s.startConsumer(t, sys, s.consumerConfig(topic, parts, sub, second))
	s2 := *s
	s2.wait = s.wait + 3*s.sessionTimeout
	s2.waitAll(t, allIDs(parts, 0, s.perPartition), second)
}

// testLag: broker-side lag counts produced-but-unconsumed messages and drops
// to zero once a consumer has handled and committed them.
func testLag(t *testing.T, s *suite) {
	sys := s.system(t)
	lagger, ok := sys.(adapters.Lagger)
	if !ok || !sys.Capabilities().BrokerLag {
		t.Skip("not applicable: BrokerLag")
	}
	parts := s.partitionsFor(sys)
	sub := newSubscription()
	topic := s.newTopic(t, sys, parts, sub)
	s.produce(t, sys, topic, parts, 0, s.perPartition)
	total := int64(parts * s.perPartition)
	ctx := s.ctxFor(t)
	waitLag := func(want int64, what string) {
		t.Helper()
		var last map[int32]int64
		var lastErr error
		deadline := time.Now().Add(s.wait)
		for {
			last, lastErr = lagger.Lag(ctx, topic, sub)
			var sum int64
			for p, l := range last {
				if p < 0 || int(p) >= parts {
					t.Fatalf("Lag returned partition %d of a %d-partition topic", p, parts)
				}
				sum += l
			}
			if lastErr == nil && sum == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("lag %s: want total %d; last Lag = %v, err %v", what, want, last, lastErr)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
	waitLag(total, "before consuming")
	c := newCollector()
	s.startConsumer(t, sys, s.consumerConfig(topic, parts, sub, c))
	s.waitAll(t, allIDs(parts, 0, s.perPartition), c)
	waitLag(0, "after consuming")
	// The shared vocabulary: a topic that was never created is
	// adapters.ErrTopicNotFound on every system.
	missing := "bbtest-missing-" + randomSuffix()
	if l, err := lagger.Lag(ctx, missing, sub); !errors.Is(err, adapters.ErrTopicNotFound) {
		t.Errorf("Lag of a missing topic = %v, %v; want an error wrapping adapters.ErrTopicNotFound", l, err)
	}
}

// testStartPosition: a subscription the consumer creates starts at the
// first retained message (StartEarliest, a replay) or after the last one
// (StartLatest). Needs Replay: a queue system has nothing to replay.
func testStartPosition(t *testing.T, s *suite) {
	sys := s.system(t)
	if !sys.Capabilities().Replay {
		t.Skip("not applicable: Replay")
	}
	parts := s.partitionsFor(sys)
	topic := s.newTopic(t, sys, parts) // no subscription provisioned
	const old = 2
	s.produce(t, sys, topic, parts, 0, old)
	early, late := newCollector(), newCollector()
	s.startConsumer(t, sys, s.consumerConfig(topic, parts, newSubscription(), early))
	lateCfg := s.consumerConfig(topic, parts, newSubscription(), late)
	lateCfg.Start = adapters.StartLatest
	// Where the system assigns partitions, "latest" is resolved at
	// assignment: produce the new messages only after it.
	assigned := make(chan struct{})
	var once sync.Once
	lateCfg.OnAssigned = func([]int32) { once.Do(func() { close(assigned) }) }
	s.startConsumer(t, sys, lateCfg)
	if sys.Capabilities().Rebalance {
		select {
		case <-assigned:
		case <-time.After(s.wait):
			t.Fatalf("StartLatest consumer not assigned within %v", s.wait)
		}
	}
	// "Latest" is resolved some time after the assignment callback (kgo
	// lists offsets only after OnPartitionsAssigned returns), so a round
	// produced at once may land before the position: produce rounds until
	// the late subscription has a message of every partition.
	next := old
	deadline := time.Now().Add(s.wait)
	for !s.seesEveryPartition(late, parts, time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("StartLatest subscription received %d messages in %v, want one of every partition", late.distinct(), s.wait)
		}
		s.produce(t, sys, topic, parts, next, old)
		next += old
	}
	s.waitAll(t, allIDs(parts, 0, next), early)
	first := make(map[int32]uint32)
	for id := range late.snapshot() {
		if id.seq < old {
			t.Errorf("StartLatest subscription got %s, published before it existed", id)
		}
		if f, ok := first[id.part]; !ok || id.seq < f {
			first[id.part] = id.seq
		}
	}
	// From its position on, the late subscription gets every message.
	var tail []msgID
	for part, f := range first {
		for seq := f; seq < uint32(next); seq++ {
			tail = append(tail, msgID{part: part, seq: seq})
		}
	}
	s.waitAll(t, tail, late)
}

// seesEveryPartition waits up to d for c to hold a message of each of
// the partitions.
func (s *suite) seesEveryPartition(c *collector, partitions int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		seen := make(map[int32]bool)
		for id := range c.snapshot() {
			seen[id.part] = true
		}
		if len(seen) == partitions {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
