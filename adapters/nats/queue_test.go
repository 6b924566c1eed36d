package nats

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// durableInfo returns fresh info of partition p's durable.
func durableInfo(t *testing.T, n *NATS, topic, sub string, p int) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := n.js.Consumer(t.Context(), streamName(topic), durableName(sub, p))
	if err != nil {
		t.Fatalf("look up durable: %v", err)
	}
	return c.CachedInfo()
}

// dlqMsg returns the dead-letter stream's message with sequence seq.
func dlqMsg(t *testing.T, n *NATS, topic string, seq uint64) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := n.js.Stream(t.Context(), dlqStreamName(topic))
	if err != nil {
		t.Fatalf("dead-letter stream: %v", err)
	}
	m, err := s.GetMsg(t.Context(), seq)
	if err != nil {
		t.Fatalf("dead-letter message %d: %v", seq, err)
	}
	return m
}

func waitDeadLettered(t *testing.T, n *NATS, topic, sub string, want int64) {
	t.Helper()
	adaptertest.WaitFor(t, 15*time.Second, "dead-lettered = "+strconv.FormatInt(want, 10), func() bool {
		got, err := n.DeadLettered(t.Context(), topic, sub)
		return err == nil && got == want
	})
}

// TestReleaseRedeliveredPromptly: Release is a Nak, so the message comes
// back at once (AckWait is a minute) with NumDelivered as its count, and
// once accepted nothing is left pending.
func TestReleaseRedeliveredPromptly(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 2, Subscriptions: []string{"s"}})
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "rel"})
	adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 1, Key: []byte("k"), Value: []byte("v")})
	rec := &adaptertest.Recorder{Hook: func(d *adapters.Delivery) {
		if d.DeliveryCount < 3 {
			d.Disposition = adapters.Release
		}
	}}
	cfg := adaptertest.ConsumerConfig(topic, "s", 2, rec.Handle)
	cfg.SessionTimeout = time.Minute
	c := newConsumer(t, n, cfg)
	start := time.Now()
	adaptertest.WaitFor(t, 10*time.Second, "three deliveries", func() bool { return rec.Len() >= 3 })
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("two releases took %v to come back; want well under the 1m AckWait", el)
	}
	for i, d := range rec.All() {
		if d.DeliveryCount != i+1 || d.Redelivered != (i > 0) || string(d.Value) != "v" || string(d.Key) != "k" || d.Partition != 1 {
			t.Errorf("delivery %d = {count %d redelivered %v key %q value %q partition %d}, want count %d, same message",
				i, d.DeliveryCount, d.Redelivered, d.Key, d.Value, d.Partition, i+1)
		}
	}
	adaptertest.WaitFor(t, 10*time.Second, "nothing pending", func() bool {
		ci := durableInfo(t, n, topic, "s", 1)
		return ci.NumAckPending == 0 && ci.NumPending == 0
	})
	if err := c.consumeErr(); err != nil {
		t.Errorf("consume error: %v", err)
	}
}

// TestRejectToDeadLetterStream: Reject copies the message, with its key and
// origin, to the subscription's dead-letter subject and terminates it; the
// topic without DeadLetter only terminates. DeleteTopic removes the
// dead-letter stream.
func TestRejectToDeadLetterStream(t *testing.T) {
	t.Parallel()
	for _, dl := range []bool{true, false} {
		t.Run("deadLetter="+strconv.FormatBool(dl), func(t *testing.T) {
			t.Parallel()
			n := newNATS(t)
			topic := newTopic(t, n, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}, DeadLetter: dl})
			p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "rej"})
			res := adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Key: []byte{}, Value: []byte("bad")})
			rec := &adaptertest.Recorder{Hook: func(d *adapters.Delivery) { d.Disposition = adapters.Reject }}
			c := newConsumer(t, n, adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle))
			adaptertest.WaitFor(t, 10*time.Second, "the rejected message to be settled", func() bool {
				return rec.Len() == 1 && durableInfo(t, n, topic, "s", 0).NumAckPending == 0
			})
			if !dl {
				if got, err := n.DeadLettered(t.Context(), topic, "s"); err != nil || got != 0 {
					t.Errorf("DeadLettered without DeadLetter = %d, %v; want 0", got, err)
				}
				return
			}
			waitDeadLettered(t, n, topic, "s", 1)
			m := dlqMsg(t, n, topic, 1)
			want := map[string]string{
				keyHeader: encodeKey([]byte{}), dlqPartitionHeader: "0",
				dlqSequenceHeader: strconv.FormatInt(res.Offset, 10), dlqDeliveriesHeader: "1",
			}
			for h, v := range want {
				if got := m.Header.Get(h); got != v {
					t.Errorf("dead-letter header %s = %q, want %q", h, got, v)
				}
			}
			if string(m.Data) != "bad" || m.Subject != dlqSubject(topic, "s") {
				t.Errorf("dead-letter message %q on %s, want \"bad\" on %s", m.Data, m.Subject, dlqSubject(topic, "s"))
			}
			if err := c.consumeErr(); err != nil {
				t.Errorf("consume error: %v", err)
			}
			if err := c.Close(t.Context()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := n.DeleteTopic(t.Context(), topic); err != nil {
				t.Fatalf("DeleteTopic: %v", err)
			}
			if _, err := n.js.Stream(t.Context(), dlqStreamName(topic)); err == nil {
				t.Error("dead-letter stream survived DeleteTopic")
			}
		})
	}
}

// TestDeliveryLimitAfterCrash: a consumer crashes holding a message on its
// last allowed delivery. JetStream stops redelivering it at MaxDeliver and
// emits the max-deliveries advisory; the surviving member copies the
// message to the dead-letter subject and never handles it again, while
// other messages still flow.
func TestDeliveryLimitAfterCrash(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}, DeadLetter: true, Queue: true})
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "limit"})
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
	cfg.SessionTimeout, cfg.MaxDeliveries = time.Second, 2 // set on the durable
	cfg.Queue = true                                       // delivery limits are queue semantics
	c1 := newConsumer(t, n, cfg)
	if got := durableInfo(t, n, topic, "s", 0).Config.MaxDeliver; got != 2 {
		t.Fatalf("durable MaxDeliver = %d, want 2 from ConsumerConfig.MaxDeliveries", got)
	}
	<-entered
	if err := c1.Crash(); err != nil {
		t.Fatalf("Crash: %v", err)
	}
	once.Do(func() { close(block) })
	rec := &adaptertest.Recorder{}
	cfg2 := adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle)
	cfg2.SessionTimeout, cfg2.Queue = time.Second, true // MaxDeliveries 0: the durable keeps 2
	c2 := newConsumer(t, n, cfg2)

	waitDeadLettered(t, n, topic, "s", 1)
	m := dlqMsg(t, n, topic, 1)
	if string(m.Data) != "poison" || m.Header.Get(dlqDeliveriesHeader) != "2" {
		t.Errorf("dead-letter copy %q with %s %q, want \"poison\" delivered 2 times", m.Data, dlqDeliveriesHeader, m.Header.Get(dlqDeliveriesHeader))
	}
	// Barrier: a later message reaches the survivor's handler.
	adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("fine")})
	adaptertest.WaitFor(t, 10*time.Second, "the next message", func() bool { return rec.Len() >= 1 })
	for _, d := range rec.All() {
		if string(d.Value) != "fine" {
			t.Errorf("survivor handled %q (count %d); the message over the limit must not be delivered", d.Value, d.DeliveryCount)
		}
	}
	if err := c2.consumeErr(); err != nil {
		t.Errorf("consume error: %v", err)
	}
}
