package rabbitmq

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

const waitLong = 20 * time.Second

// values returns n distinct payloads starting at from.
func values(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, from+i)
	}
	return out
}

// TestStreamReplay: stream subscriptions read non-destructively from an
// offset. A subscription that did not exist at publish time still reads
// everything from "first", another from "next" reads only what follows, and
// deliveries carry their x-stream-offset as Offset.
func TestStreamReplay(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueStream)
	topic := newTopic(t, r, 1) // no subscriptions: streams need none
	p := newProducer(t, r, adapters.ProducerConfig{ID: "replay", Acks: adapters.AcksAll})
	if errs := sendAll(t, p, topic, 0, values("old", 0, 20)); len(errs) > 0 {
		t.Fatalf("send: %v", errs)
	}

	early := &adaptertest.Recorder{}
	adaptertest.NewConsumer(t, r, adapters.ConsumerConfig{ID: "early", Topic: topic, Subscription: "early",
		Start: adapters.StartEarliest, Handler: early.Handle})
	adaptertest.WaitFor(t, waitLong, "the earliest subscription to replay 20 messages", func() bool { return early.Len() >= 20 })
	for i, d := range early.All() {
		if d.Offset != int64(i) || string(d.Value) != values("old", i, 1)[0] {
			t.Fatalf("delivery %d: offset %d value %q, want offset %d value %q", i, d.Offset, d.Value, i, values("old", i, 1)[0])
		}
	}

	late := &adaptertest.Recorder{}
	var assigned sync.WaitGroup
	assigned.Add(1)
	adaptertest.NewConsumer(t, r, adapters.ConsumerConfig{ID: "late", Topic: topic, Subscription: "late",
		Start: adapters.StartLatest, Handler: late.Handle, OnAssigned: func([]int32) { assigned.Done() }})
	assigned.Wait()
	if errs := sendAll(t, p, topic, 0, values("new", 0, 5)); len(errs) > 0 {
		t.Fatalf("send: %v", errs)
	}
	adaptertest.WaitFor(t, waitLong, "the latest subscription to see 5 new messages", func() bool { return late.Len() >= 5 })
	adaptertest.WaitFor(t, waitLong, "the earliest subscription to see 25 messages", func() bool { return early.Len() >= 25 })
	for _, d := range late.All() {
		if d.Offset < 20 {
			t.Errorf("StartLatest subscription got offset %d (%q) published before it started", d.Offset, d.Value)
		}
	}
}

// TestStreamResumeAfterClose: a stream subscription resumes after its
// committed offset, within one System.
func TestStreamResumeAfterClose(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueStream)
	topic := newTopic(t, r, 1)
	p := newProducer(t, r, adapters.ProducerConfig{ID: "resume", Acks: adapters.AcksAll})
	if errs := sendAll(t, p, topic, 0, values("m", 0, 10)); len(errs) > 0 {
		t.Fatalf("send: %v", errs)
	}
	first := &adaptertest.Recorder{}
	c, err := r.NewConsumer(t.Context(), adapters.ConsumerConfig{ID: "c1", Topic: topic, Subscription: "s",
		Commit: adapters.CommitSync, Handler: first.Handle})
	if err != nil {
		t.Fatal(err)
	}
	adaptertest.WaitFor(t, waitLong, "10 messages", func() bool { return first.Len() >= 10 })
	if err := c.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if errs := sendAll(t, p, topic, 0, values("m", 10, 5)); len(errs) > 0 {
		t.Fatalf("send: %v", errs)
	}
	second := &adaptertest.Recorder{}
	adaptertest.NewConsumer(t, r, adapters.ConsumerConfig{ID: "c2", Topic: topic, Subscription: "s", Handler: second.Handle})
	adaptertest.WaitFor(t, waitLong, "5 more messages", func() bool { return second.Len() >= 5 })
	if got := second.All(); got[0].Offset != 10 {
		t.Errorf("resumed at offset %d (%q), want 10", got[0].Offset, got[0].Value)
	}
}

// TestCrashRedeliveredFlag: messages a crashed consumer held are requeued
// by the broker when the socket drops and come back with Redelivered set.
func TestCrashRedeliveredFlag(t *testing.T) {
	t.Parallel()
	for _, qt := range []QueueType{QueueClassic, QueueQuorum} {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, qt)
			topic := newTopic(t, r, 1, "s")
			p := newProducer(t, r, adapters.ProducerConfig{ID: "crash", Acks: adapters.AcksAll})
			if errs := sendAll(t, p, topic, 0, values("m", 0, 20)); len(errs) > 0 {
				t.Fatalf("send: %v", errs)
			}
			block := make(chan struct{})
			entered := make(chan struct{}, 1)
			c1, err := r.NewConsumer(t.Context(), adapters.ConsumerConfig{ID: "c1", Topic: topic, Subscription: "s", Prefetch: 5,
				Handler: func(*adapters.Delivery) {
					select {
					case entered <- struct{}{}:
					default:
					}
					<-block
				}})
			if err != nil {
				t.Fatal(err)
			}
			<-entered
			if err := c1.Crash(); err != nil {
				t.Fatalf("Crash: %v", err)
			}
			close(block)
			rec := &adaptertest.Recorder{}
			adaptertest.NewConsumer(t, r, adapters.ConsumerConfig{ID: "c2", Topic: topic, Subscription: "s", Handler: rec.Handle})
			adaptertest.WaitFor(t, waitLong, "all 20 messages after the crash", func() bool { return rec.Distinct() == 20 })
			got := rec.All()
			if !got[0].Redelivered || string(got[0].Value) != "m-0000" {
				t.Errorf("first delivery after crash: %q redelivered=%v, want m-0000 redelivered", got[0].Value, got[0].Redelivered)
			}
			if got[len(got)-1].Redelivered {
				t.Errorf("last message %q marked redelivered; the crashed consumer never held it", got[len(got)-1].Value)
			}
		})
	}
}

// TestRebalance: the local group splits partitions round robin, moves them
// on join and leave, and reports every move.
func TestRebalance(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueQuorum)
	topic := newTopic(t, r, 4, "s")
	start := func(id string, a *adaptertest.Assignment) adapters.Consumer {
		c, err := r.NewConsumer(t.Context(), adapters.ConsumerConfig{ID: id, Topic: topic, Subscription: "s",
			Handler: func(*adapters.Delivery) {}, OnAssigned: a.Assigned, OnRevoked: a.Revoked})
		if err != nil {
			t.Fatalf("NewConsumer %s: %v", id, err)
		}
		return c
	}
	a, b := &adaptertest.Assignment{}, &adaptertest.Assignment{}
	ca := start("a", a)
	defer ca.Close(t.Context())
	if got := fmt.Sprint(a.Partitions()); got != "[0 1 2 3]" {
		t.Fatalf("single consumer owns %s, want all", got)
	}
	cb := start("b", b)
	if ga, gb := fmt.Sprint(a.Partitions()), fmt.Sprint(b.Partitions()); ga != "[0 2]" || gb != "[1 3]" {
		t.Fatalf("after join: a=%s b=%s, want [0 2] and [1 3]", ga, gb)
	}
	if err := cb.Close(t.Context()); err != nil {
		t.Fatalf("Close b: %v", err)
	}
	if ga, gb := fmt.Sprint(a.Partitions()), fmt.Sprint(b.Partitions()); ga != "[0 1 2 3]" || gb != "[]" {
		t.Fatalf("after leave: a=%s b=%s, want all and none", ga, gb)
	}
}

// TestCommitModes: every mode delivers everything, and after the handler
// has returned the broker holds nothing (auto-ack acks on delivery).
func TestCommitModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []adapters.CommitMode{adapters.CommitAuto, adapters.CommitInterval, adapters.CommitSync} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, QueueQuorum)
			topic := newTopic(t, r, 2, "s")
			p := newProducer(t, r, adapters.ProducerConfig{ID: "modes", Acks: adapters.AcksAll})
			for part := range int32(2) {
				if errs := sendAll(t, p, topic, part, values(fmt.Sprint("p", part), 0, 100)); len(errs) > 0 {
					t.Fatalf("send: %v", errs)
				}
			}
			rec := &adaptertest.Recorder{}
			c := adaptertest.NewConsumer(t, r, adapters.ConsumerConfig{ID: "c", Topic: topic, Subscription: "s", Commit: mode,
				CommitInterval: 50 * time.Millisecond, Prefetch: 16, Handler: rec.Handle})
			adaptertest.WaitFor(t, waitLong, "200 messages", func() bool { return rec.Distinct() == 200 })
			if err := c.Close(t.Context()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			lag, err := r.Lag(t.Context(), topic, "s")
			if err != nil || lag[0]+lag[1] != 0 {
				t.Errorf("after Close: lag %v err %v, want 0: handled messages must be acked", lag, err)
			}
		})
	}
}

// TestStreamLagNotApplicable: streams have no broker-side consumer state.
func TestStreamLagNotApplicable(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueStream)
	topic := newTopic(t, r, 1)
	if _, err := r.Lag(t.Context(), topic, "s"); !errors.Is(err, adapters.ErrNotApplicable) {
		t.Errorf("Lag on a stream: %v, want ErrNotApplicable", err)
	}
	if r.Capabilities().BrokerLag || !r.Capabilities().Replay {
		t.Errorf("stream capabilities %+v: want Replay and no BrokerLag", r.Capabilities())
	}
}

// TestConsumerConfigErrors: bad consumer settings fail clearly.
func TestConsumerConfigErrors(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueClassic)
	topic := newTopic(t, r, 1, "s")
	h := func(*adapters.Delivery) {}
	tests := []struct {
		name string
		cfg  adapters.ConsumerConfig
		want error // nil: any error
	}{
		{"no handler", adapters.ConsumerConfig{Topic: topic, Subscription: "s"}, nil},
		{"static member", adapters.ConsumerConfig{Topic: topic, Subscription: "s", InstanceID: "i", Handler: h}, adapters.ErrNotApplicable},
		{"slash in subscription", adapters.ConsumerConfig{Topic: topic, Subscription: "a/b", Handler: h}, ErrInvalidName},
		{"unknown topic", adapters.ConsumerConfig{Topic: "bbrabbit-none-" + adaptertest.Suffix(), Subscription: "s", Handler: h}, adapters.ErrTopicNotFound},
		{"missing exchange", adapters.ConsumerConfig{Topic: "bbrabbit-none-" + adaptertest.Suffix(), Partitions: 1, Subscription: "s", Handler: h}, adapters.ErrTopicNotFound},
		{"bad commit mode", adapters.ConsumerConfig{Topic: topic, Subscription: "s", Commit: "never", Handler: h}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := r.NewConsumer(t.Context(), tc.cfg)
			if err == nil {
				_ = c.Close(t.Context())
				t.Fatal("NewConsumer succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
