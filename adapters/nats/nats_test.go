package nats

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

const natsAddr = "127.0.0.1:4222"

// newNATS connects to the local NATS server (skipping without it, failing in
// CI) and closes the system when t ends.
func newNATS(t testing.TB) *NATS {
	t.Helper()
	adaptertest.RequireService(t, "nats", natsAddr)
	cfg := Config{}.Default()
	cfg.Storage = "memory" // tests need no durability; spare the disk
	n, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// newTopic creates a uniquely named topic and deletes it when t ends.
func newTopic(t testing.TB, n *NATS, spec adapters.TopicSpec) string {
	t.Helper()
	spec.Name = "bbtest-nats-" + adaptertest.Suffix()
	return adaptertest.NewTopic(t, n, spec)
}

// newConsumer starts a consumer and closes it when t ends (Close after
// Crash is a no-op); the concrete type lets tests read consumeErr.
func newConsumer(t *testing.T, n *NATS, cfg adapters.ConsumerConfig) *consumer {
	t.Helper()
	return adaptertest.NewConsumer(t, n, cfg).(*consumer)
}

// TestSubjectsPerPartition: each partition is its own subject in the stream
// and its own durable, and messages land where they were sent.
func TestSubjectsPerPartition(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 3, Subscriptions: []string{"s"}})
	stream, err := n.js.Stream(t.Context(), streamName(topic))
	if err != nil {
		t.Fatal(err)
	}
	subs := stream.CachedInfo().Config.Subjects
	if len(subs) != 3 || subs[2] != "bb."+topic+".2" {
		t.Fatalf("stream subjects = %v", subs)
	}
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "subj"})
	for i := range 9 {
		adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: int32(i % 3), Value: []byte{byte(i % 3)}})
	}
	info, err := stream.Info(t.Context(), jetstream.WithSubjectFilter("bb."+topic+".>"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if info.State.Subjects[s] != 3 {
			t.Errorf("subject %s holds %d messages, want 3", s, info.State.Subjects[s])
		}
	}
	rec := &adaptertest.Recorder{}
	newConsumer(t, n, adaptertest.ConsumerConfig(topic, "s", 3, rec.Handle))
	adaptertest.WaitFor(t, 10*time.Second, "9 deliveries", func() bool { return rec.Len() == 9 })
	last := map[int32]int64{}
	for _, d := range rec.All() {
		if d.Value[0] != byte(d.Partition) {
			t.Errorf("message for partition %d delivered from partition %d", d.Value[0], d.Partition)
		}
		if d.Offset <= last[d.Partition] {
			t.Errorf("partition %d: offset %d after %d", d.Partition, d.Offset, last[d.Partition])
		}
		last[d.Partition] = d.Offset
	}
}

// TestPipelinedSends keeps many sends outstanding from several goroutines
// and checks every callback runs once, with the stream holding them all.
func TestPipelinedSends(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	const parts, senders, perSender = 4, 4, 1000
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: parts})
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "pipe", MaxInFlight: 64})
	var calls, failures atomic.Int64
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				m := &adapters.Message{Topic: topic, Partition: int32((s + i) % parts), Key: []byte("k"), Value: []byte("v")}
				p.Send(t.Context(), m, func(res adapters.SendResult, err error) {
					calls.Add(1)
					if err != nil || res.Offset <= 0 {
						failures.Add(1)
					}
				})
			}
		})
	}
	wg.Wait()
	if err := p.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := calls.Load(); got != senders*perSender || failures.Load() != 0 {
		t.Fatalf("callbacks = %d (%d failed), want %d", got, failures.Load(), senders*perSender)
	}
	s, _ := n.js.Stream(t.Context(), streamName(topic))
	if msgs := s.CachedInfo().State.Msgs; msgs != senders*perSender {
		t.Fatalf("stream holds %d messages, want %d", msgs, senders*perSender)
	}
}

// TestRedeliveryAfterAckWait crashes a consumer whose handler is blocked and
// checks another member receives its messages after AckWait
// (= SessionTimeout), marked redelivered.
func TestRedeliveryAfterAckWait(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	// Queue: queue consumers need per-message acks (AckExplicit).
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}, Queue: true})
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "redeliver"})
	for i := range 5 {
		adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte{byte(i)}})
	}
	block, entered := make(chan struct{}), make(chan struct{}, 1)
	stuck := &adaptertest.Recorder{Hook: func(*adapters.Delivery) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-block
	}}
	// Queue consumers: a group member taking a crashed member's partition
	// over re-creates the durable at its ack floor instead (group.go).
	cfg := adaptertest.ConsumerConfig(topic, "s", 1, stuck.Handle)
	cfg.SessionTimeout, cfg.Queue = time.Second, true
	c1 := newConsumer(t, n, cfg)
	<-entered
	if err := c1.Crash(); err != nil {
		t.Fatalf("Crash: %v", err)
	}
	close(block)
	rec := &adaptertest.Recorder{}
	cfg2 := adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle)
	cfg2.SessionTimeout, cfg2.Queue = time.Second, true
	newConsumer(t, n, cfg2)
	adaptertest.WaitFor(t, 15*time.Second, "redelivered messages", func() bool { return rec.Len() >= 5 })
	redelivered := 0
	for _, d := range rec.All() {
		if d.Redelivered {
			redelivered++
		}
	}
	if redelivered == 0 {
		t.Error("no delivery after the crash was marked redelivered")
	}
	if stuck.Len() > 1 {
		t.Errorf("crashed consumer handled %d messages", stuck.Len())
	}
}

// TestLag: lag counts undelivered plus unacked messages per partition and
// drops to 0 once consumed.
func TestLag(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 2, Subscriptions: []string{"s"}})
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "lag"})
	for i := range 10 {
		adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: int32(i % 2), Value: []byte("x")})
	}
	lag, err := n.Lag(t.Context(), topic, "s")
	if err != nil || lag[0] != 5 || lag[1] != 5 {
		t.Fatalf("Lag before consuming = %v, %v; want 5 per partition", lag, err)
	}
	if _, err := n.Lag(t.Context(), topic, "nosuchsub"); err == nil {
		t.Fatal("Lag of a missing subscription: want an error")
	}
	rec := &adaptertest.Recorder{}
	c := newConsumer(t, n, adaptertest.ConsumerConfig(topic, "s", 2, rec.Handle))
	adaptertest.WaitFor(t, 10*time.Second, "lag 0", func() bool {
		lag, err := n.Lag(t.Context(), topic, "s")
		return err == nil && lag[0] == 0 && lag[1] == 0
	})
	if err := c.consumeErr(); err != nil {
		t.Errorf("consume error: %v", err)
	}
}

// TestBinaryAndKeys round-trips all byte values, an empty value and nil
// versus empty keys.
func TestBinaryAndKeys(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}})
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	msgs := []adapters.Message{{Key: all, Value: all}, {Key: nil, Value: []byte{}}, {Key: []byte{}, Value: []byte("\r\n")}}
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "bin"})
	for i := range msgs {
		msgs[i].Topic = topic
		adaptertest.SendSync(t, p, &msgs[i])
	}
	rec := &adaptertest.Recorder{}
	newConsumer(t, n, adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle))
	adaptertest.WaitFor(t, 10*time.Second, "3 deliveries", func() bool { return rec.Len() == 3 })
	for i, d := range rec.All() { // one consumer, one partition: in order
		w := msgs[i]
		if !bytes.Equal(d.Key, w.Key) || (d.Key == nil) != (w.Key == nil) || !bytes.Equal(d.Value, w.Value) || d.Value == nil {
			t.Errorf("#%d: key %q (nil %t) value %q; want key %q (nil %t) value %q", i, d.Key, d.Key == nil, d.Value, w.Key, w.Key == nil, w.Value)
		}
	}
}

// TestIdempotentMsgID: idempotent producers set a Nats-Msg-Id, so the
// stream's duplicate detection applies, only when the workload asked for
// idempotence explicitly or Config.Dedup asks for it; otherwise messages
// carry none (the adapter never re-publishes).
func TestIdempotentMsgID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dedup, idempotent, requested, wantID bool
	}{
		{dedup: false, idempotent: true, wantID: false}, // the default of acks=all
		{dedup: false, idempotent: true, requested: true, wantID: true},
		{dedup: true, idempotent: false, wantID: false},
		{dedup: true, idempotent: true, wantID: true},
	} {
		t.Run(fmt.Sprintf("dedup=%t/idempotent=%t/requested=%t", tc.dedup, tc.idempotent, tc.requested), func(t *testing.T) {
			t.Parallel()
			n := newNATS(t)
			n.cfg.Dedup = tc.dedup
			topic := newTopic(t, n, adapters.TopicSpec{Partitions: 1})
			p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "idem-" + adaptertest.Suffix(), Idempotent: tc.idempotent, IdempotenceRequested: tc.requested})
			first := adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("a")})
			stream, err := n.js.Stream(t.Context(), streamName(topic))
			if err != nil {
				t.Fatal(err)
			}
			stored, err := stream.GetMsg(t.Context(), uint64(first.Offset))
			if err != nil {
				t.Fatal(err)
			}
			id := stored.Header.Get(jetstream.MsgIDHeader)
			if (id != "") != tc.wantID {
				t.Fatalf("stored message has Nats-Msg-Id %q; want one: %t", id, tc.wantID)
			}
			if !tc.wantID {
				return
			}
			// Re-publish with the id the producer used, as a retry would.
			ack, err := n.js.Publish(t.Context(), subject(topic, 0), []byte("a"), jetstream.WithMsgID(id))
			if err != nil {
				t.Fatal(err)
			}
			if !ack.Duplicate || int64(ack.Sequence) != first.Offset {
				t.Fatalf("retry with the same Nats-Msg-Id: ack %+v, want a duplicate of seq %d", ack, first.Offset)
			}
		})
	}
}

func TestTopicErrors(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 2})
	ctx := t.Context()
	if err := n.CreateTopic(ctx, adapters.TopicSpec{Name: topic, Partitions: 2}); err != nil {
		t.Fatalf("idempotent CreateTopic: %v", err)
	}
	if err := n.CreateTopic(ctx, adapters.TopicSpec{Name: topic, Partitions: 3}); !errors.Is(err, adapters.ErrTopicMismatch) {
		t.Fatalf("CreateTopic with other partitions = %v, want adapters.ErrTopicMismatch", err)
	}
	if err := n.DeleteTopic(ctx, "bbtest-nats-missing-"+adaptertest.Suffix()); err != nil {
		t.Fatalf("DeleteTopic of a missing topic: %v", err)
	}
	_, err := n.NewConsumer(ctx, adapters.ConsumerConfig{ID: "x", Topic: "bbtest-missing-" + adaptertest.Suffix(), Subscription: "s", Handler: func(*adapters.Delivery) {}})
	if !errors.Is(err, adapters.ErrTopicNotFound) {
		t.Fatalf("NewConsumer on a missing topic = %v, want adapters.ErrTopicNotFound", err)
	}
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "errs"})
	for _, m := range []adapters.Message{
		{Topic: topic, Partition: 2},                                    // out of range
		{Topic: "bbtest-missing-" + adaptertest.Suffix(), Partition: 0}, // no such topic
	} {
		if err := adaptertest.SendErr(t, p, &m); err == nil {
			t.Errorf("Send(%+v) succeeded, want an error", m)
		}
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	cfg := Config{}.Default()
	cfg.URL = "nats://bob:hunter2@127.0.0.1:1" // nothing listens on port 1
	_, err := New(t.Context(), cfg)
	if !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("New against a closed port = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("password leaked in %v", err)
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	info, err := n.Info(t.Context())
	if err != nil || !strings.HasPrefix(info.Server, "NATS 2.") || !strings.Contains(info.Client, "nats.go v1.") {
		t.Fatalf("Info = %+v, %v", info, err)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	adaptertest.RequireService(t, "nats", natsAddr)
	adaptertest.Run(t, func(t *testing.T) adapters.System { return newNATS(t) })
}

// BenchmarkSend measures async publish throughput of one producer with the
// default in-flight bound and 100-byte values.
func BenchmarkSend(b *testing.B) {
	sys := newNATS(b)
	topic := newTopic(b, sys, adapters.TopicSpec{Partitions: 4})
	adaptertest.BenchSend(b, adaptertest.NewProducer(b, sys, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "bench"}), topic, 4)
}

// TestAcksNone: a core publish completes without an offset, and the stream
// still stores every message.
func TestAcksNone(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 2})
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{ID: "fire", Acks: adapters.AcksNone})
	var calls, bad atomic.Int64
	for i := range 200 {
		p.Send(t.Context(), &adapters.Message{Topic: topic, Partition: int32(i % 2), Value: []byte("x")}, func(res adapters.SendResult, err error) {
			calls.Add(1)
			if err != nil || res.Offset != -1 || res.Partition != int32(i%2) {
				bad.Add(1)
			}
		})
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 200 || bad.Load() != 0 {
		t.Fatalf("%d callbacks, %d bad; want 200 good", calls.Load(), bad.Load())
	}
	s, err := n.js.Stream(t.Context(), streamName(topic))
	if err != nil {
		t.Fatal(err)
	}
	adaptertest.WaitFor(t, 10*time.Second, "200 stored messages", func() bool {
		info, err := s.Info(t.Context())
		return err == nil && info.State.Msgs == 200
	})
}

// TestTLSMismatchIsNotUnavailable: asking for TLS from the plain-text test
// server is a configuration error, not ErrUnavailable.
func TestTLSMismatchIsNotUnavailable(t *testing.T) {
	t.Parallel()
	adaptertest.RequireService(t, "nats", natsAddr)
	cfg := Config{}.Default()
	cfg.TLS.InsecureSkipVerify = true
	_, err := New(t.Context(), cfg)
	if err == nil || errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("New with TLS against a plain server = %v, want a TLS configuration error", err)
	}
}

// TestCommitAuto: CommitAuto creates AckNone durables for a new
// subscription, and acks on receipt on a provisioned (AckExplicit) one;
// either way lag drops to 0.
func TestCommitAuto(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"provisioned"}})
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{ID: "auto", Acks: adapters.AcksLeader})
	for range 5 {
		adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("x")})
	}
	for _, sub := range []string{"provisioned", "fresh"} {
		rec := &adaptertest.Recorder{}
		cfg := adaptertest.ConsumerConfig(topic, sub, 1, rec.Handle)
		cfg.Commit = adapters.CommitAuto
		newConsumer(t, n, cfg)
		adaptertest.WaitFor(t, 10*time.Second, sub+": 5 deliveries and lag 0", func() bool {
			lag, err := n.Lag(t.Context(), topic, sub)
			return rec.Len() == 5 && err == nil && lag[0] == 0
		})
	}
	c, err := n.js.Consumer(t.Context(), streamName(topic), durableName("fresh", 0))
	if err != nil {
		t.Fatal(err)
	}
	if ap := c.CachedInfo().Config.AckPolicy; ap != jetstream.AckNonePolicy {
		t.Fatalf("fresh CommitAuto durable has ack policy %v; want AckNone", ap)
	}
}
