package redis

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// groupPending returns the group's pending-entry count on partition p.
func groupPending(t *testing.T, r *Redis, topic, sub string, p int) int64 {
	t.Helper()
	s, err := r.admin.XPending(t.Context(), r.layout.stream(topic, p), sub).Result()
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
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "rel"})
	adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 1, Key: []byte("k"), Value: []byte("v")})
	rec := &adaptertest.Recorder{Hook: func(d *adapters.Delivery) {
		if d.DeliveryCount < 3 {
			d.Disposition = adapters.Release
		}
	}}
	cfg := adaptertest.ConsumerConfig(topic, "s", 2, rec.Handle)
	cfg.SessionTimeout = time.Minute
	c := adaptertest.NewConsumer(t, r, cfg)
	start := time.Now()
	adaptertest.WaitFor(t, 10*time.Second, "three deliveries", func() bool { return rec.Len() >= 3 })
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("two releases took %v to come back; want well under the 1m session timeout", el)
	}
	for i, d := range rec.All() {
		if d.DeliveryCount != i+1 || d.Redelivered != (i > 0) || string(d.Value) != "v" || string(d.Key) != "k" || d.Partition != 1 {
			t.Errorf("delivery %d = {count %d redelivered %v key %q value %q partition %d}, want count %d, same message",
				i, d.DeliveryCount, d.Redelivered, d.Key, d.Value, d.Partition, i+1)
		}
	}
	adaptertest.WaitFor(t, 10*time.Second, "the accepted entry to be acknowledged", func() bool {
		return groupPending(t, r, topic, "s", 1) == 0
	})
	if n := rec.Len(); n != 3 {
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
			topic := "bbtest-redis-" + adaptertest.Suffix()
			if err := r.CreateTopic(t.Context(), adapters.TopicSpec{Name: topic, Partitions: 1, Subscriptions: []string{"s"}, DeadLetter: dl}); err != nil {
				t.Fatalf("CreateTopic: %v", err)
			}
			t.Cleanup(func() { _ = r.DeleteTopic(context.Background(), topic) })
			p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "rej"})
			res := adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Key: []byte{}, Value: []byte("bad")})
			rec := &adaptertest.Recorder{Hook: func(d *adapters.Delivery) { d.Disposition = adapters.Reject }}
			c := adaptertest.NewConsumer(t, r, adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle))
			adaptertest.WaitFor(t, 10*time.Second, "the rejected entry to be acknowledged", func() bool {
				return rec.Len() == 1 && groupPending(t, r, topic, "s", 0) == 0
			})
			n, err := r.DeadLettered(t.Context(), topic, "s")
			if err != nil {
				t.Fatalf("DeadLettered: %v", err)
			}
			if want := map[bool]int64{true: 1, false: 0}[dl]; n != want {
				t.Fatalf("DeadLettered = %d, want %d", n, want)
			}
			if dl {
				checkDLQEntry(t, r, r.layout.dlq(topic, "s", 0), map[string]any{
					fieldKey: "", fieldValue: "bad", fieldDLQPartition: "0",
					fieldDLQID: OffsetToID(res.Offset), fieldDLQDeliveries: "1",
				})
			}
			// Close first: a consumer outliving its topic cannot read its
			// pending entries to acknowledge them, and says so.
			if err := c.Close(t.Context()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := r.DeleteTopic(t.Context(), topic); err != nil {
				t.Fatalf("DeleteTopic: %v", err)
			}
			if n, err := r.admin.Exists(t.Context(), r.layout.dlq(topic, "s", 0), dlqSetKey(topic)).Result(); err != nil || n != 0 {
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
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "limit"})
	adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("poison")})

	var once sync.Once
	block, entered := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { once.Do(func() { close(block) }) })
	stuck := &adaptertest.Recorder{Hook: func(d *adapters.Delivery) {
		if d.DeliveryCount == 1 {
			d.Disposition = adapters.Release
			return
		}
		close(entered) // second and last allowed delivery: hold it
		<-block
	}}
	cfg := adaptertest.ConsumerConfig(topic, "s", 1, stuck.Handle)
	cfg.SessionTimeout = 300 * time.Millisecond
	c1 := adaptertest.NewConsumer(t, r, cfg)
	<-entered
	if err := c1.Crash(); err != nil {
		t.Fatalf("Crash: %v", err)
	}
	once.Do(func() { close(block) })

	rec := &adaptertest.Recorder{}
	cfg2 := adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle)
	cfg2.SessionTimeout = 300 * time.Millisecond
	adaptertest.NewConsumer(t, r, cfg2)
	adaptertest.WaitFor(t, 10*time.Second, "the entry over the limit to be dead-lettered", func() bool {
		n, err := r.DeadLettered(t.Context(), topic, "s")
		return err == nil && n == 1
	})
	checkDLQEntry(t, r, r.layout.dlq(topic, "s", 0), map[string]any{fieldValue: "poison", fieldDLQDeliveries: "3"})
	// Barrier: a later entry reaches the second consumer's handler.
	adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("fine")})
	adaptertest.WaitFor(t, 10*time.Second, "the next entry", func() bool { return rec.Len() == 1 })
	if d := rec.All()[0]; string(d.Value) != "fine" || d.DeliveryCount != 1 {
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
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "restart"})
	adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("once")})
	// Leave the entry pending under consumer "c" as a crashed consumer would.
	if err := r.admin.XReadGroup(t.Context(), &goredis.XReadGroupArgs{
		Group: "s", Consumer: "c", Streams: []string{r.layout.stream(topic, 0), ">"}, Count: 1, Block: -1,
	}).Err(); err != nil {
		t.Fatalf("XREADGROUP: %v", err)
	}
	rec := &adaptertest.Recorder{}
	cfg := adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle)
	cfg.ID = "c"
	cfg.SessionTimeout = time.Minute
	adaptertest.NewConsumer(t, r, cfg)
	adaptertest.WaitFor(t, 10*time.Second, "the pending entry to be dropped", func() bool {
		return groupPending(t, r, topic, "s", 0) == 0
	})
	adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("next")})
	adaptertest.WaitFor(t, 10*time.Second, "the next entry", func() bool { return rec.Len() == 1 })
	if d := rec.All()[0]; string(d.Value) != "next" {
		t.Errorf("restarted consumer got %q; the entry over the limit must not be delivered", d.Value)
	}
}

// TestCloseHandsOverReleased: entries a consumer released in its last batch
// are claimed by another member at once after Close, not after the session
// timeout (a minute here), with their delivery count carried on.
func TestCloseHandsOverReleased(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}})
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "handover"})
	adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("x")})
	entered := make(chan struct{}, 1)
	first := &adaptertest.Recorder{Hook: func(d *adapters.Delivery) {
		d.Disposition = adapters.Release // never processed here
		select {
		case entered <- struct{}{}:
		default:
		}
	}}
	cfg := adaptertest.ConsumerConfig(topic, "s", 1, first.Handle)
	cfg.SessionTimeout = time.Minute
	c1 := adaptertest.NewConsumer(t, r, cfg)
	<-entered
	if err := c1.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	n := first.Len()
	rec := &adaptertest.Recorder{}
	cfg2 := adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle)
	cfg2.SessionTimeout = time.Minute
	adaptertest.NewConsumer(t, r, cfg2)
	adaptertest.WaitFor(t, 5*time.Second, "the released entry at the second consumer", func() bool { return rec.Len() == 1 })
	if d := rec.All()[0]; string(d.Value) != "x" || d.DeliveryCount != n+1 || !d.Redelivered {
		t.Errorf("second consumer got %q count %d redelivered %v; want \"x\" count %d redelivered", d.Value, d.DeliveryCount, d.Redelivered, n+1)
	}
	adaptertest.WaitFor(t, 5*time.Second, "the entry to be acknowledged", func() bool { return groupPending(t, r, topic, "s", 0) == 0 })
}
