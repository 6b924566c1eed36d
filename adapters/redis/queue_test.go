package redis

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
)

// groupPending returns the group's pending-entry count on partition p.
func groupPending(t *testing.T, r *Redis, topic, sub string, p int) int64 {
	t.Helper()
	s, err := r.admin.XPending(t.Context(), streamKey(topic, p), sub).Result()
	if err != nil {
		t.Fatalf("XPENDING: %v", err)
	}
	return s.Count
}

// TestReleaseRedeliveredPromptly: a released entry comes back to the
// consumer at once (the session timeout is a minute, so no XAUTOCLAIM is
// involved) with the delivery count Redis keeps, and once accepted it is
// acknowledged.
func TestReleaseRedeliveredPromptly(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 2, Subscriptions: []string{"s"}})
	p := newProducer(t, r, adapters.ProducerConfig{ID: "rel"})
	sendSync(t, p, &adapters.Message{Topic: topic, Partition: 1, Key: []byte("k"), Value: []byte("v")})
	rec := &recorder{hook: func(d *adapters.Delivery) {
		if d.DeliveryCount < 3 {
			d.Disposition = adapters.Release
		}
	}}
	cfg := consumerConfig(topic, "s", 2, rec)
	cfg.SessionTimeout = time.Minute
	c := newConsumer(t, r, cfg)
	start := time.Now()
	waitFor(t, 10*time.Second, "three deliveries", func() bool { return rec.len() >= 3 })
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("two releases took %v to come back; want well under the 1m session timeout", el)
	}
	for i, d := range rec.all() {
		if d.DeliveryCount != i+1 || d.Redelivered != (i > 0) || string(d.Value) != "v" || string(d.Key) != "k" || d.Partition != 1 {
			t.Errorf("delivery %d = {count %d redelivered %v key %q value %q partition %d}, want count %d, same message",
				i, d.DeliveryCount, d.Redelivered, d.Key, d.Value, d.Partition, i+1)
		}
	}
	waitFor(t, 10*time.Second, "the accepted entry to be acknowledged", func() bool {
		return groupPending(t, r, topic, "s", 1) == 0
	})
	if n := rec.len(); n != 3 {
		t.Errorf("%d deliveries, want 3", n)
	}
	if err := c.(*consumer).bgErr(); err != nil {
		t.Errorf("consumer background error: %v", err)
	}
}

// TestRejectToDeadLetterStream: a rejected entry is copied to the
// subscription's dead-letter stream, with its origin, and acknowledged;
// without DeadLetter it is only acknowledged. DeleteTopic removes the
// dead-letter stream.
func TestRejectToDeadLetterStream(t *testing.T) {
	t.Parallel()
	for _, dl := range []bool{true, false} {
		t.Run("deadLetter="+strconv.FormatBool(dl), func(t *testing.T) {
			t.Parallel()
			r := newRedis(t)
			topic := "bbtest-redis-" + suffix()
			if err := r.CreateTopic(t.Context(), adapters.TopicSpec{Name: topic, Partitions: 1, Subscriptions: []string{"s"}, DeadLetter: dl}); err != nil {
				t.Fatalf("CreateTopic: %v", err)
			}
			t.Cleanup(func() { _ = r.DeleteTopic(context.Background(), topic) })
			p := newProducer(t, r, adapters.ProducerConfig{ID: "rej"})
			res := sendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Key: []byte{}, Value: []byte("bad")})
			rec := &recorder{hook: func(d *adapters.Delivery) { d.Disposition = adapters.Reject }}
			newConsumer(t, r, consumerConfig(topic, "s", 1, rec))
			waitFor(t, 10*time.Second, "the rejected entry to be acknowledged", func() bool {
				return rec.len() == 1 && groupPending(t, r, topic, "s", 0) == 0
			})
			n, err := r.DeadLettered(t.Context(), topic, "s")
			if err != nil {
				t.Fatalf("DeadLettered: %v", err)
			}
			if want := map[bool]int64{true: 1, false: 0}[dl]; n != want {
				t.Fatalf("DeadLettered = %d, want %d", n, want)
			}
			if dl {
				checkDLQEntry(t, r, dlqKey(topic, "s"), map[string]any{
					fieldKey: "", fieldValue: "bad", fieldDLQPartition: "0",
					fieldDLQID: OffsetToID(res.Offset), fieldDLQDeliveries: "1",
				})
			}
			if err := r.DeleteTopic(t.Context(), topic); err != nil {
				t.Fatalf("DeleteTopic: %v", err)
			}
			if n, err := r.admin.Exists(t.Context(), dlqKey(topic, "s"), dlqSetKey(topic)).Result(); err != nil || n != 0 {
				t.Errorf("after DeleteTopic, %d dead-letter keys exist (err %v)", n, err)
			}
		})
	}
}

// checkDLQEntry checks that the dead-letter stream holds exactly one entry
// with the fields want.
func checkDLQEntry(t *testing.T, r *Redis, key string, want map[string]any) {
	t.Helper()
	msgs, err := r.admin.XRange(t.Context(), key, "-", "+").Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("XRANGE %s = %d entries, %v; want 1", key, len(msgs), err)
	}
	for f, v := range want {
		if got := msgs[0].Values[f]; got != v {
			t.Errorf("dead-letter field %q = %v, want %v", f, got, v)
		}
	}
}

// TestDeliveryLimitOnClaim: a consumer crashes holding an entry on its last
// allowed delivery; the consumer that claims it after the session timeout
// dead-letters it without handing it to its handler, while other entries
// still flow to that handler.
func TestDeliveryLimitOnClaim(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}, MaxDeliveries: 2, DeadLetter: true})
	p := newProducer(t, r, adapters.ProducerConfig{ID: "limit"})
	sendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("poison")})

	var once sync.Once
	block, entered := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { once.Do(func() { close(block) }) })
	stuck := &recorder{hook: func(d *adapters.Delivery) {
		if d.DeliveryCount == 1 {
			d.Disposition = adapters.Release
			return
		}
		close(entered) // second and last allowed delivery: hold it
		<-block
	}}
	cfg := consumerConfig(topic, "s", 1, stuck)
	cfg.SessionTimeout = 300 * time.Millisecond
	c1 := newConsumer(t, r, cfg)
	<-entered
	if err := c1.Crash(); err != nil {
		t.Fatalf("Crash: %v", err)
	}
	once.Do(func() { close(block) })

	rec := &recorder{}
	cfg2 := consumerConfig(topic, "s", 1, rec)
	cfg2.SessionTimeout = 300 * time.Millisecond
	newConsumer(t, r, cfg2)
	waitFor(t, 10*time.Second, "the entry over the limit to be dead-lettered", func() bool {
		n, err := r.DeadLettered(t.Context(), topic, "s")
		return err == nil && n == 1
	})
	checkDLQEntry(t, r, dlqKey(topic, "s"), map[string]any{fieldValue: "poison", fieldDLQDeliveries: "3"})
	// Barrier: a later entry reaches the second consumer's handler.
	sendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("fine")})
	waitFor(t, 10*time.Second, "the next entry", func() bool { return rec.len() == 1 })
	if d := rec.all()[0]; string(d.Value) != "fine" || d.DeliveryCount != 1 {
		t.Errorf("second consumer got %q (count %d), want only the new entry, first delivery", d.Value, d.DeliveryCount)
	}
	if n := groupPending(t, r, topic, "s", 0); n > 1 {
		t.Errorf("%d entries still pending, want at most the new one", n)
	}
}

// TestOwnPendingOverLimitOnRestart: a consumer restarted under the same ID
// dead-letters its predecessor's pending entry that already had its last
// delivery, instead of delivering it again. No DLQ: it is dropped.
func TestOwnPendingOverLimitOnRestart(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}, MaxDeliveries: 1})
	p := newProducer(t, r, adapters.ProducerConfig{ID: "restart"})
	sendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("once")})
	// Leave the entry pending under consumer "c" as a crashed consumer would.
	if err := r.admin.XReadGroup(t.Context(), &goredis.XReadGroupArgs{
		Group: "s", Consumer: "c", Streams: []string{streamKey(topic, 0), ">"}, Count: 1, Block: -1,
	}).Err(); err != nil {
		t.Fatalf("XREADGROUP: %v", err)
	}
	rec := &recorder{}
	cfg := consumerConfig(topic, "s", 1, rec)
	cfg.ID = "c"
	cfg.SessionTimeout = time.Minute
	newConsumer(t, r, cfg)
	waitFor(t, 10*time.Second, "the pending entry to be dropped", func() bool {
		return groupPending(t, r, topic, "s", 0) == 0
	})
	sendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("next")})
	waitFor(t, 10*time.Second, "the next entry", func() bool { return rec.len() == 1 })
	if d := rec.all()[0]; string(d.Value) != "next" {
		t.Errorf("restarted consumer got %q; the entry over the limit must not be delivered", d.Value)
	}
}

// TestQueueConfigErrors: negative delivery limits are refused.
func TestQueueConfigErrors(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	if err := r.CreateTopic(t.Context(), adapters.TopicSpec{Name: "bbtest-redis-" + suffix(), Partitions: 1, MaxDeliveries: -1}); err == nil {
		t.Error("CreateTopic with MaxDeliveries -1 succeeded")
	}
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1})
	cfg := consumerConfig(topic, "s", 1, &recorder{})
	cfg.MaxDeliveries = -1
	if c, err := r.NewConsumer(t.Context(), cfg); err == nil {
		_ = c.Crash()
		t.Error("NewConsumer with MaxDeliveries -1 succeeded")
	}
	if _, err := r.DeadLettered(t.Context(), "bbtest-redis-missing-"+suffix(), "s"); err == nil {
		t.Error("DeadLettered of a missing topic succeeded")
	}
}

// TestCloseHandsOverReleased: entries a consumer released in its last batch
// are claimed by another member at once after Close, not after the session
// timeout (a minute here), with their delivery count carried on.
func TestCloseHandsOverReleased(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}})
	p := newProducer(t, r, adapters.ProducerConfig{ID: "handover"})
	sendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("x")})
	entered := make(chan struct{}, 1)
	first := &recorder{hook: func(d *adapters.Delivery) {
		d.Disposition = adapters.Release // never processed here
		select {
		case entered <- struct{}{}:
		default:
		}
	}}
	cfg := consumerConfig(topic, "s", 1, first)
	cfg.SessionTimeout = time.Minute
	c1 := newConsumer(t, r, cfg)
	<-entered
	if err := c1.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	n := first.len()
	rec := &recorder{}
	cfg2 := consumerConfig(topic, "s", 1, rec)
	cfg2.SessionTimeout = time.Minute
	newConsumer(t, r, cfg2)
	waitFor(t, 5*time.Second, "the released entry at the second consumer", func() bool { return rec.len() == 1 })
	if d := rec.all()[0]; string(d.Value) != "x" || d.DeliveryCount != n+1 || !d.Redelivered {
		t.Errorf("second consumer got %q count %d redelivered %v; want \"x\" count %d redelivered", d.Value, d.DeliveryCount, d.Redelivered, n+1)
	}
	waitFor(t, 5*time.Second, "the entry to be acknowledged", func() bool { return groupPending(t, r, topic, "s", 0) == 0 })
}
