package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// TestProducerHeader: a send carries the key header when it has a key
// (an empty key included) and a Nats-Msg-Id, numbered per producer from 1,
// when the producer is idempotent; nothing otherwise.
func TestProducerHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		key        []byte
		idempotent bool
		want       natsgo.Header
	}{
		{"no key, not idempotent: no header", nil, false, nil},
		{"key only", []byte{0, 1}, false, natsgo.Header{keyHeader: {"kAAE="}}},
		{"empty key is a key", []byte{}, false, natsgo.Header{keyHeader: {"k"}}},
		{"id only", nil, true, natsgo.Header{jetstream.MsgIDHeader: {"p1-1"}}},
		{"key and id", []byte("a"), true, natsgo.Header{keyHeader: {"kYQ=="}, jetstream.MsgIDHeader: {"p1-1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &producer{id: "p1", idempotent: tc.idempotent}
			if got := p.header(tc.key); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("header(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
	p := &producer{id: "p1", idempotent: true}
	p.header(nil)
	if got := p.header(nil).Get(jetstream.MsgIDHeader); got != "p1-2" {
		t.Fatalf("second Nats-Msg-Id = %q, want p1-2", got)
	}
}

// TestProducerAcquire: a free slot is taken at once; with every slot held
// acquire waits, and gives up with the context's error or ErrClosed when
// the producer closes.
func TestProducerAcquire(t *testing.T) {
	t.Parallel()
	p := &producer{slots: make(chan struct{}, 1), stop: make(chan struct{})}
	if err := p.acquire(t.Context()); err != nil {
		t.Fatalf("first acquire: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := p.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire with every slot held and ctx ending: %v, want DeadlineExceeded", err)
	}
	got := make(chan error, 1)
	go func() { got <- p.acquire(t.Context()) }()
	close(p.stop)
	if err := <-got; !errors.Is(err, adapters.ErrClosed) {
		t.Fatalf("acquire blocked when the producer closes: %v, want ErrClosed", err)
	}
	<-p.slots
	if err := p.acquire(t.Context()); err != nil {
		t.Fatalf("acquire after a release: %v", err)
	}
}

// TestProducerRoutesPerTopic: a producer alternating between topics with
// different partition counts routes each send by its own topic's route,
// though it reads the route of the topic sent to last first.
func TestProducerRoutesPerTopic(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	one := newTopic(t, n, adapters.TopicSpec{Partitions: 1})
	three := newTopic(t, n, adapters.TopicSpec{Partitions: 3})
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "route"})
	for i := range 6 {
		adaptertest.SendSync(t, p, &adapters.Message{Topic: three, Partition: -1, Value: []byte("x")})
		res := adaptertest.SendSync(t, p, &adapters.Message{Topic: one, Partition: -1, Value: []byte("x")})
		if res.Partition != 0 {
			t.Fatalf("send %d to the one-partition topic went to partition %d", i, res.Partition)
		}
	}
	adaptertest.SendSync(t, p, &adapters.Message{Topic: three, Partition: 2, Value: []byte("x")})
	var got error
	p.Send(t.Context(), &adapters.Message{Topic: one, Partition: 2, Value: []byte("x")}, func(_ adapters.SendResult, err error) { got = err })
	if !errors.Is(got, adapters.ErrBadPartition) {
		t.Fatalf("partition 2 of the one-partition topic right after the three-partition one: %v, want ErrBadPartition", got)
	}
	for topic, want := range map[string]uint64{one: 6, three: 7} {
		s, err := n.js.Stream(t.Context(), streamName(topic))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().State.Msgs; got != want {
			t.Errorf("%s holds %d messages, want %d", topic, got, want)
		}
	}
}

// TestProducerCloseRacesAcks closes producers while their acks arrive,
// with flush deadlines from none to a few milliseconds: every send's done
// runs exactly once (its ack, or an error for sends Close cut off or
// refused), none is lost, and Close returns.
func TestProducerCloseRacesAcks(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 2})
	for round := range 5 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			pr, err := n.NewProducer(t.Context(), adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: fmt.Sprintf("race-%d", round), MaxInFlight: 256})
			if err != nil {
				t.Fatal(err)
			}
			const sends = 5000
			calls := make([]atomic.Int32, sends)
			var sent, refused, cut atomic.Int64
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := range sends {
					sent.Add(1)
					pr.Send(t.Context(), &adapters.Message{Topic: topic, Partition: int32(i % 2), Value: []byte("v")}, func(res adapters.SendResult, err error) {
						calls[i].Add(1)
						switch {
						case err != nil && strings.HasPrefix(err.Error(), "send to"):
							refused.Add(1) // Send after Close
						case err != nil:
							cut.Add(1) // in flight when Close gave up
						}
						if err == nil && res.Offset <= 0 {
							t.Errorf("send %d acknowledged with offset %d", i, res.Offset)
						}
					})
				}
			})
			// Close while sends and acks are under way: after a share of
			// the sends, at a different point each round.
			adaptertest.WaitFor(t, 10*time.Second, "sends under way", func() bool { return sent.Load() > int64(200*(round+1)) })
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(round)*time.Millisecond)
			_ = pr.Close(ctx) // a short ctx may end the flush: its sends then fail
			cancel()
			wg.Wait()
			// An ack callback that won the race may still be running
			// its done when Close returns.
			adaptertest.WaitFor(t, 10*time.Second, "every done", func() bool {
				for i := range calls {
					if calls[i].Load() == 0 {
						return false
					}
				}
				return true
			})
			for i := range calls {
				if c := calls[i].Load(); c != 1 {
					t.Fatalf("send %d: done ran %d times, want once", i, c)
				}
			}
			t.Logf("of %d sends, %d were refused after Close and %d cut off in flight", sends, refused.Load(), cut.Load())
		})
	}
}
