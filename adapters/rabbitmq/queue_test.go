package rabbitmq

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// queueWait bounds every wait of the queue tests; a healthy broker meets
// each condition in well under a second.
const queueWait = 30 * time.Second

// newSpecTopic creates a topic from spec with a unique name and deletes it
// when t ends.
func newSpecTopic(t *testing.T, r *RabbitMQ, spec adapters.TopicSpec) string {
	t.Helper()
	spec.Name = "bbrabbitq-" + adaptertest.Suffix()
	return adaptertest.NewTopic(t, r, spec)
}

// dispRecorder records deliveries with their counts and decides each
// one's disposition with decide(value, deliveries of value so far).
type dispRecorder struct {
	decide func(value string, seen int) adapters.Disposition

	mu  sync.Mutex
	got map[string][]adapters.Delivery
}

func newDispRecorder(decide func(value string, seen int) adapters.Disposition) *dispRecorder {
	return &dispRecorder{decide: decide, got: make(map[string][]adapters.Delivery)}
}

func (dr *dispRecorder) Handle(d *adapters.Delivery) {
	v := string(d.Value)
	dr.mu.Lock()
	defer dr.mu.Unlock()
	d.Disposition = dr.decide(v, len(dr.got[v]))
	cp := *d
	cp.Key, cp.Value = nil, nil
	dr.got[v] = append(dr.got[v], cp)
}

func (dr *dispRecorder) deliveries(v string) []adapters.Delivery {
	dr.mu.Lock()
	defer dr.mu.Unlock()
	return slices.Clone(dr.got[v])
}

// queueConsumerCfg is a queue-mode consumer of a one-partition topic.
func queueConsumerCfg(topic, sub string, h adapters.Handler) adapters.ConsumerConfig {
	return adapters.ConsumerConfig{
		ID: "c-" + adaptertest.Suffix(), Topic: topic, Partitions: 1, Subscription: sub,
		Commit: adapters.CommitSync, Prefetch: 10, Handler: h, Queue: true,
	}
}

// waitDeadLettered polls DeadLettered until it reports want.
func waitDeadLettered(t *testing.T, r *RabbitMQ, topic, sub string, want int64) {
	t.Helper()
	var got int64
	var err error
	adaptertest.WaitFor(t, queueWait, "the dead-letter count", func() bool {
		got, err = r.DeadLettered(t.Context(), topic, sub)
		return err == nil && got == want
	})
}

// getDeadLetter takes one message from sub's dead-letter queue.
func getDeadLetter(t *testing.T, r *RabbitMQ, topic, sub string) amqp.Delivery {
	t.Helper()
	var m amqp.Delivery
	err := r.withChannel(t.Context(), func(ch *amqp.Channel) error {
		var ok bool
		var err error
		m, ok, err = ch.Get(deadLetterQueue(topic, sub), true)
		if err == nil && !ok {
			err = errors.New("dead-letter queue is empty")
		}
		return err
	})
	if err != nil {
		t.Fatalf("get from dead-letter queue: %v", err)
	}
	return m
}

// TestQuorumDeliveryLimit: a message always released is delivered exactly
// MaxDeliveries times, with counts 1..MaxDeliveries, and then dead-lettered
// (or dropped without DeadLetter), while the next message flows.
func TestQuorumDeliveryLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		max        int
		deadLetter bool
	}{{1, true}, {3, true}, {2, false}} {
		t.Run(fmt.Sprintf("max%d-deadletter%t", tc.max, tc.deadLetter), func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, QueueQuorum)
			topic := newSpecTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"},
				MaxDeliveries: tc.max, DeadLetter: tc.deadLetter})
			p := newProducer(t, r, adapters.ProducerConfig{ID: "p", Acks: adapters.AcksAll})
			if errs := sendAll(t, p, topic, 0, []string{"poison", "good"}); len(errs) > 0 {
				t.Fatalf("send: %v", errs)
			}
			dr := newDispRecorder(func(v string, _ int) adapters.Disposition {
				if v == "poison" {
					return adapters.Release
				}
				return adapters.Accept
			})
			adaptertest.NewConsumer(t, r, queueConsumerCfg(topic, "s", dr.Handle))
			adaptertest.WaitFor(t, queueWait, "the good message", func() bool { return len(dr.deliveries("good")) == 1 })
			if tc.deadLetter {
				waitDeadLettered(t, r, topic, "s", 1)
				m := getDeadLetter(t, r, topic, "s")
				if string(m.Body) != "poison" {
					t.Errorf("dead-lettered body %q, want poison", m.Body)
				}
			} else {
				adaptertest.WaitFor(t, queueWait, "the poison message to be dropped", func() bool {
					lag, err := r.Lag(t.Context(), topic, "s")
					return err == nil && lag[0] == 0 && len(dr.deliveries("poison")) >= tc.max
				})
				if _, err := r.DeadLettered(t.Context(), topic, "s"); !errors.Is(err, adapters.ErrTopicNotFound) {
					t.Errorf("DeadLettered without DeadLetter: %v, want adapters.ErrTopicNotFound", err)
				}
			}
			// Barrier: one more message flows through the same consumer
			// after the poison message left the queue.
			if errs := sendAll(t, p, topic, 0, []string{"after"}); len(errs) > 0 {
				t.Fatalf("send: %v", errs)
			}
			adaptertest.WaitFor(t, queueWait, "the message after", func() bool { return len(dr.deliveries("after")) == 1 })
			ds := dr.deliveries("poison")
			if len(ds) != tc.max {
				t.Fatalf("poison delivered %d times, want MaxDeliveries %d", len(ds), tc.max)
			}
			for i, d := range ds {
				if d.DeliveryCount != i+1 || d.Redelivered != (i > 0) {
					t.Errorf("delivery %d: DeliveryCount %d Redelivered %v, want %d %v", i+1, d.DeliveryCount, d.Redelivered, i+1, i > 0)
				}
			}
		})
	}
}

// TestReleaseRedelivered: a released delivery comes back with the
// redelivered flag, counted on quorum queues and uncounted on classic.
func TestReleaseRedelivered(t *testing.T) {
	t.Parallel()
	for _, qt := range []QueueType{QueueClassic, QueueQuorum} {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, qt)
			topic := newSpecTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}, Queue: true})
			p := newProducer(t, r, adapters.ProducerConfig{ID: "p", Acks: adapters.AcksAll})
			if errs := sendAll(t, p, topic, 0, []string{"m"}); len(errs) > 0 {
				t.Fatalf("send: %v", errs)
			}
			dr := newDispRecorder(func(_ string, seen int) adapters.Disposition {
				if seen == 0 {
					return adapters.Release
				}
				return adapters.Accept
			})
			adaptertest.NewConsumer(t, r, queueConsumerCfg(topic, "s", dr.Handle))
			adaptertest.WaitFor(t, queueWait, "the redelivery", func() bool { return len(dr.deliveries("m")) == 2 })
			ds := dr.deliveries("m")
			wantCount := [2]int{1, 2}
			if qt == QueueClassic {
				wantCount = [2]int{0, 0}
			}
			for i, d := range ds {
				if d.Redelivered != (i == 1) || d.DeliveryCount != wantCount[i] {
					t.Errorf("delivery %d: Redelivered %v DeliveryCount %d, want %v %d", i+1, d.Redelivered, d.DeliveryCount, i == 1, wantCount[i])
				}
			}
			adaptertest.WaitFor(t, queueWait, "the queue to drain", func() bool {
				lag, err := r.Lag(t.Context(), topic, "s")
				return err == nil && lag[0] == 0
			})
		})
	}
}

// TestRejectDeadLetters: a rejected delivery lands, intact and with its
// key, in the subscription's dead-letter queue, with RabbitMQ's x-death
// record saying why; other subscriptions are unaffected.
func TestRejectDeadLetters(t *testing.T) {
	t.Parallel()
	for _, qt := range []QueueType{QueueClassic, QueueQuorum} {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, qt)
			topic := newSpecTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s", "other"}, DeadLetter: true})
			p := newProducer(t, r, adapters.ProducerConfig{ID: "p", Acks: adapters.AcksAll})
			if errs := sendAll(t, p, topic, 0, []string{"bad", "ok"}); len(errs) > 0 {
				t.Fatalf("send: %v", errs)
			}
			dr := newDispRecorder(func(v string, _ int) adapters.Disposition {
				if v == "bad" {
					return adapters.Reject
				}
				return adapters.Accept
			})
			adaptertest.NewConsumer(t, r, queueConsumerCfg(topic, "s", dr.Handle))
			adaptertest.WaitFor(t, queueWait, "both messages", func() bool { return len(dr.deliveries("ok")) == 1 })
			waitDeadLettered(t, r, topic, "s", 1)
			if n, err := r.DeadLettered(t.Context(), topic, "other"); err != nil || n != 0 {
				t.Errorf("DeadLettered(other) = %d, %v; want 0", n, err)
			}
			m := getDeadLetter(t, r, topic, "s")
			if key, _ := m.Headers[keyHeader].([]byte); string(m.Body) != "bad" || string(key) != "k" {
				t.Errorf("dead letter body %q key %v, want bad and key k", m.Body, m.Headers[keyHeader])
			}
			deaths, _ := m.Headers["x-death"].([]any)
			if len(deaths) == 0 {
				t.Fatalf("dead letter has no x-death header: %v", m.Headers)
			}
			if death, _ := deaths[0].(amqp.Table); death["reason"] != "rejected" || death["queue"] != r.queueName(topic, "s", 0) {
				t.Errorf("x-death = %v, want reason rejected from queue %s", death, r.queueName(topic, "s", 0))
			}
			if ds := dr.deliveries("bad"); len(ds) != 1 {
				t.Errorf("rejected message delivered %d times, want 1", len(ds))
			}
		})
	}
}

// TestDeleteTopicRemovesDeadLetter: DeleteTopic removes every
// subscription's dead-letter queue and exchange, including those of a
// subscription first seen by a consumer.
func TestDeleteTopicRemovesDeadLetter(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueQuorum)
	name := "bbrabbitq-" + adaptertest.Suffix()
	spec := adapters.TopicSpec{Name: name, Partitions: 2, Subscriptions: []string{"a", "b"}, DeadLetter: true, MaxDeliveries: 2}
	if err := r.CreateTopic(t.Context(), spec); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	// A late subscription gets the topic's settings, dead letters included.
	c, err := r.NewConsumer(t.Context(), queueConsumerCfg(name, "late", func(*adapters.Delivery) {}))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	if err := c.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	subs := []string{"a", "b", "late"}
	exchangeExists := func(name string) bool {
		err := r.withChannel(t.Context(), func(ch *amqp.Channel) error {
			return ch.ExchangeDeclarePassive(name, amqp.ExchangeFanout, true, false, false, false, nil)
		})
		if err != nil && !isAMQPCode(err, amqp.NotFound) {
			t.Fatalf("inspect exchange %q: %v", name, err)
		}
		return err == nil
	}
	for _, sub := range subs {
		if ok, err := r.queueExists(t.Context(), deadLetterQueue(name, sub)); err != nil || !ok {
			t.Fatalf("dead-letter queue of %s: exists %v, %v", sub, ok, err)
		}
		if !exchangeExists(deadLetterExchange(name, sub)) {
			t.Fatalf("dead-letter exchange of %s missing", sub)
		}
	}
	if err := r.DeleteTopic(t.Context(), name); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	for _, sub := range subs {
		if ok, err := r.queueExists(t.Context(), deadLetterQueue(name, sub)); err != nil || ok {
			t.Errorf("dead-letter queue of %s after DeleteTopic: exists %v, %v", sub, ok, err)
		}
		if exchangeExists(deadLetterExchange(name, sub)) {
			t.Errorf("dead-letter exchange of %s left after DeleteTopic", sub)
		}
		if ok, _ := r.queueExists(t.Context(), r.queueName(name, sub, 0)); ok {
			t.Errorf("partition queue of %s left after DeleteTopic", sub)
		}
	}
	if _, err := r.DeadLettered(t.Context(), name, "a"); !errors.Is(err, adapters.ErrTopicNotFound) {
		t.Errorf("DeadLettered after DeleteTopic: %v, want adapters.ErrTopicNotFound", err)
	}
}

// TestCompetingConsumers: on a Queue topic, queue consumers share one
// partition's messages: while the first holds its only prefetch slot, the
// second takes every other message.
func TestCompetingConsumers(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueQuorum)
	topic := newSpecTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}, Queue: true})
	block := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(block) }) }
	t.Cleanup(unblock)
	first := &adaptertest.Recorder{}
	cfg := queueConsumerCfg(topic, "s", func(d *adapters.Delivery) {
		first.Handle(d)
		<-block
	})
	cfg.Prefetch = 1
	adaptertest.NewConsumer(t, r, cfg)
	p := newProducer(t, r, adapters.ProducerConfig{ID: "p", Acks: adapters.AcksAll})
	if errs := sendAll(t, p, topic, 0, values("m", 0, 1)); len(errs) > 0 {
		t.Fatalf("send: %v", errs)
	}
	adaptertest.WaitFor(t, queueWait, "the first consumer to hold a message", func() bool { return first.Len() == 1 })
	second := &adaptertest.Recorder{}
	adaptertest.NewConsumer(t, r, queueConsumerCfg(topic, "s", second.Handle))
	if errs := sendAll(t, p, topic, 0, values("m", 1, 20)); len(errs) > 0 {
		t.Fatalf("send: %v", errs)
	}
	adaptertest.WaitFor(t, queueWait, "the second consumer to take the rest", func() bool { return second.Distinct() == 20 })
	unblock()
	adaptertest.WaitFor(t, queueWait, "the queue to drain", func() bool {
		lag, err := r.Lag(t.Context(), topic, "s")
		return err == nil && lag[0] == 0
	})
	if first.Len() != 1 || second.Len() != 20 {
		t.Errorf("first consumer got %d, second %d deliveries; want 1 and 20 (no double delivery)", first.Len(), second.Len())
	}
}

// TestQueueNotApplicable: options the queue type cannot honour are refused
// with adapters.ErrNotApplicable instead of being ignored.
func TestQueueNotApplicable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		qt   QueueType
		spec adapters.TopicSpec
	}{
		{QueueClassic, adapters.TopicSpec{MaxDeliveries: 3}},
		{QueueStream, adapters.TopicSpec{MaxDeliveries: 3}},
		{QueueStream, adapters.TopicSpec{DeadLetter: true}},
		{QueueStream, adapters.TopicSpec{Queue: true}},
	} {
		t.Run(string(tc.qt), func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, tc.qt)
			tc.spec.Name, tc.spec.Partitions, tc.spec.Subscriptions = "bbrabbitq-"+adaptertest.Suffix(), 1, []string{"s"}
			err := r.CreateTopic(t.Context(), tc.spec)
			if !errors.Is(err, adapters.ErrNotApplicable) {
				t.Errorf("CreateTopic(%+v) = %v, want ErrNotApplicable", tc.spec, err)
			}
			if ok, _ := r.queueExists(t.Context(), r.queueName(tc.spec.Name, "s", 0)); ok {
				t.Errorf("a refused CreateTopic declared queues")
			}
		})
	}
	t.Run("negative", func(t *testing.T) {
		t.Parallel()
		r := newRabbit(t, QueueQuorum)
		err := r.CreateTopic(t.Context(), adapters.TopicSpec{Name: "bbrabbitq-" + adaptertest.Suffix(), Partitions: 1, MaxDeliveries: -1})
		if err == nil {
			t.Error("CreateTopic with MaxDeliveries -1 succeeded")
		}
	})
	t.Run("stream consumer", func(t *testing.T) {
		t.Parallel()
		r := newRabbit(t, QueueStream)
		topic := newTopic(t, r, 1, "s")
		_, err := r.NewConsumer(t.Context(), queueConsumerCfg(topic, "s", func(*adapters.Delivery) {}))
		if !errors.Is(err, adapters.ErrNotApplicable) {
			t.Errorf("queue consumer of a stream: %v, want ErrNotApplicable", err)
		}
	})
}

// TestDispositionNotApplied: a Release the adapter cannot apply (auto-ack
// acked it on receipt; streams have no nack) is reported by Close with
// ErrDisposition, and the message is not redelivered.
func TestDispositionNotApplied(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		qt     QueueType
		commit adapters.CommitMode
	}{{QueueQuorum, adapters.CommitAuto}, {QueueStream, adapters.CommitSync}} {
		t.Run(string(tc.qt), func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, tc.qt)
			topic := newTopic(t, r, 1, "s")
			p := newProducer(t, r, adapters.ProducerConfig{ID: "p", Acks: adapters.AcksAll})
			if errs := sendAll(t, p, topic, 0, values("m", 0, 3)); len(errs) > 0 {
				t.Fatalf("send: %v", errs)
			}
			rc := &adaptertest.Recorder{}
			c, err := r.NewConsumer(t.Context(), adapters.ConsumerConfig{
				ID: "c", Topic: topic, Partitions: 1, Subscription: "s", Commit: tc.commit,
				Handler: func(d *adapters.Delivery) {
					rc.Handle(d)
					d.Disposition = adapters.Release
				},
			})
			if err != nil {
				t.Fatalf("NewConsumer: %v", err)
			}
			adaptertest.WaitFor(t, queueWait, "the messages", func() bool { return rc.Len() >= 3 })
			if err := c.Close(t.Context()); !errors.Is(err, ErrDisposition) {
				t.Errorf("Close = %v, want ErrDisposition", err)
			}
			if rc.Len() != 3 {
				t.Errorf("%d deliveries, want 3 (released messages must not come back)", rc.Len())
			}
		})
	}
}

// TestRedeclareOtherDeadLetter: creating an existing topic again with
// another dead-letter setting fails with the broker's 406, named.
func TestRedeclareOtherDeadLetter(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueQuorum)
	spec := adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}, DeadLetter: true}
	spec.Name = newSpecTopic(t, r, spec)
	spec.DeadLetter = false
	err := r.CreateTopic(t.Context(), spec)
	if !isAMQPCode(err, amqp.PreconditionFailed) {
		t.Errorf("CreateTopic with another DeadLetter = %v, want 406 PRECONDITION_FAILED", err)
	}
}
