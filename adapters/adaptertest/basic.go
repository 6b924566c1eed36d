package adaptertest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// testInfo: Info names the server, client and endpoint.
func testInfo(t *testing.T, s *suite) {
	sys := s.system(t)
	if sys.Name() == "" {
		t.Error("Name() is empty")
	}
	info, err := sys.Info(s.ctxFor(t))
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Client == "" || info.Endpoint == "" || info.Server == "" {
		t.Errorf("Info has empty fields (Server must say \"unknown\" rather than be empty): %+v", info)
	}
}

// testCreateTopicIdempotent: creating an existing topic with the same
// partition count succeeds.
func testCreateTopicIdempotent(t *testing.T, s *suite) {
	sys := s.system(t)
	parts := s.partitionsFor(sys)
	sub := newSubscription()
	topic := s.newTopic(t, sys, parts, sub)
	spec := adapters.TopicSpec{Name: topic, Partitions: parts, Subscriptions: []string{sub}}
	if err := sys.CreateTopic(s.ctxFor(t), spec); err != nil {
		t.Fatalf("second CreateTopic(%q) with the same partitions: %v", topic, err)
	}
	// The topic must still be usable after the repeated create.
	s.produce(t, sys, topic, parts, 0, 3)
}

// testDeleteTopic: DeleteTopic removes the topic's data and is idempotent.
// Removal is observed by recreating the topic and checking that a message
// published before the delete is not delivered.
func testDeleteTopic(t *testing.T, s *suite) {
	sys := s.system(t)
	sub1, sub2 := newSubscription(), newSubscription()
	topic := s.newTopic(t, sys, 1, sub1)
	s.produce(t, sys, topic, 1, 0, 1) // seq 0: the "before" message
	ctx := s.ctxFor(t)
	for i := range 2 {
		if err := sys.DeleteTopic(ctx, topic); err != nil {
			t.Fatalf("DeleteTopic #%d: %v", i+1, err)
		}
	}
	// Some systems delete asynchronously; retry the create until it succeeds.
	spec := adapters.TopicSpec{Name: topic, Partitions: 1, Subscriptions: []string{sub2}}
	var lastErr error
	WaitFor(t, s.wait, "re-create after delete", func() bool {
		lastErr = sys.CreateTopic(ctx, spec)
		return lastErr == nil
	})
	s.produce(t, sys, topic, 1, 1, 1) // seq 1: the "after" message
	c := newCollector()
	s.startConsumer(t, sys, s.consumerConfig(topic, 1, sub2, c))
	s.waitAll(t, []msgID{{part: 0, seq: 1}}, c)
	if _, old := c.snapshot()[msgID{part: 0, seq: 0}]; old {
		t.Error("message published before DeleteTopic was delivered after re-creating the topic")
	}
}

// testProduceConsumeExact: every message comes back once, intact, from the
// partition it was sent to, with binary-safe keys and values.
func testProduceConsumeExact(t *testing.T, s *suite) {
	sys := s.system(t)
	parts := s.partitionsFor(sys)
	sub := newSubscription()
	topic := s.newTopic(t, sys, parts, sub)
	sent := s.produce(t, sys, topic, parts, 0, s.perPartition)
	c := newCollector()
	s.startConsumer(t, sys, s.consumerConfig(topic, parts, sub, c))
	want := allIDs(parts, 0, s.perPartition)
	s.waitAll(t, want, c)
	checkContents(t, c.snapshot(), sent.results, topic)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.malformed) > 0 {
		t.Errorf("%d deliveries with unknown keys, e.g. %s", len(c.malformed), c.malformed[0])
	}
	for id, n := range c.count {
		if n > 1 {
			t.Errorf("%v delivered %d times to a single healthy consumer", id, n)
		}
	}
}

// testPartitionOrder: one consumer sees each partition's messages in send
// order.
func testPartitionOrder(t *testing.T, s *suite) {
	sys := s.system(t)
	if !sys.Capabilities().OrderedPartitions {
		t.Skip("not applicable: OrderedPartitions")
	}
	parts := s.partitionsFor(sys)
	sub := newSubscription()
	topic := s.newTopic(t, sys, parts, sub)
	s.produce(t, sys, topic, parts, 0, s.perPartition)
	c := newCollector()
	s.startConsumer(t, sys, s.consumerConfig(topic, parts, sub, c))
	s.waitAll(t, allIDs(parts, 0, s.perPartition), c)
	c.mu.Lock()
	defer c.mu.Unlock()
	for part, ids := range c.arrival {
		for i := 1; i < len(ids); i++ {
			if ids[i].seq <= ids[i-1].seq {
				t.Errorf("partition %d: %v arrived after %v", part, ids[i], ids[i-1])
				break
			}
		}
	}
}

// testSendAfterClose: Send on a closed producer reports an error wrapping
// adapters.ErrClosed through done, exactly once, instead of panicking or
// hanging.
func testSendAfterClose(t *testing.T, s *suite) {
	sys := s.system(t)
	topic := s.newTopic(t, sys, 1)
	ctx := s.ctxFor(t)
	p, err := sys.NewProducer(ctx, adapters.ProducerConfig{ID: "bbtest-closed", Acks: adapters.AcksLeader})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Producer.Close: %v", err)
	}
	var calls atomic.Int32
	var gotErr atomic.Pointer[error]
	sendCtx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	p.Send(sendCtx, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("late")}, func(_ adapters.SendResult, err error) {
		calls.Add(1)
		gotErr.Store(&err)
	})
	WaitFor(t, s.wait, "done callback after Send on a closed producer", func() bool { return calls.Load() > 0 })
	if e := *gotErr.Load(); e == nil {
		t.Error("Send after Close reported success")
	} else if errors.Is(e, context.DeadlineExceeded) {
		t.Errorf("Send after Close hung until the context expired: %v", e)
	} else if !errors.Is(e, adapters.ErrClosed) {
		t.Errorf("Send after Close: %v, want an error wrapping adapters.ErrClosed", e)
	}
	// Give a double call a chance to show up before the test ends, without
	// sleeping for synchronisation: the assertion is only that it is not 2.
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) && calls.Load() == 1 {
		time.Sleep(5 * time.Millisecond)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("done called %d times, want 1", n)
	}
}
