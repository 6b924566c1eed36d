package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// TestConfirmsManyOutstanding sends 10k messages with a 10k in-flight
// window: it must not deadlock on confirm buffering (the library drops
// confirms its listener does not take within 5s), every done must run once
// without error, and Send must not wait for confirms (the window fills).
func TestConfirmsManyOutstanding(t *testing.T) {
	t.Parallel()
	const n = 10_000
	for _, qt := range queueTypes {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, qt)
			topic := newTopic(t, r, 1, "sub")
			p := newProducer(t, r, adapters.ProducerConfig{ID: "many", Acks: adapters.AcksAll, MaxInFlight: n})
			var outstanding, maxOutstanding, done, failed atomic.Int64
			var calls sync.Map
			value := make([]byte, 64)
			for i := range n {
				o := outstanding.Add(1)
				for m := maxOutstanding.Load(); o > m && !maxOutstanding.CompareAndSwap(m, o); m = maxOutstanding.Load() {
				}
				p.Send(t.Context(), &adapters.Message{Topic: topic, Partition: 0, Value: value}, func(res adapters.SendResult, err error) {
					if _, dup := calls.LoadOrStore(i, true); dup {
						t.Errorf("done called twice for send %d", i)
					}
					if err != nil || res.Partition != 0 || res.Offset != -1 {
						failed.Add(1)
						t.Errorf("send %d: result %+v, err %v", i, res, err)
					}
					outstanding.Add(-1)
					done.Add(1)
				})
			}
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			if err := p.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if got := done.Load(); got != n {
				t.Fatalf("after Flush %d of %d sends completed", got, n)
			}
			if maxOutstanding.Load() < 100 {
				t.Errorf("at most %d sends were outstanding at once; Send seems to wait for confirms", maxOutstanding.Load())
			}
			if qt != QueueStream {
				lag, err := r.Lag(t.Context(), topic, "sub")
				if err != nil || lag[0] != n {
					t.Errorf("queue depth after %d confirmed sends: %v, err %v", n, lag, err)
				}
			}
		})
	}
}

// TestInFlightBound checks Send blocks once MaxInFlight sends are pending
// and gives up with ctx's error.
func TestInFlightBound(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueClassic)
	topic := newTopic(t, r, 1, "sub")
	pr := newProducer(t, r, adapters.ProducerConfig{ID: "bound", Acks: adapters.AcksAll, MaxInFlight: 1})
	p := pr.(*producer)
	// Hold the only token as an unconfirmed send would.
	p.lanes[0].sem <- struct{}{}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	p.Send(ctx, &adapters.Message{Topic: topic, Partition: 0}, func(_ adapters.SendResult, err error) { errc <- err })
	if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send with a full window: err = %v, want deadline exceeded", err)
	}
	<-p.lanes[0].sem
	if errs := sendAll(t, pr, topic, 0, []string{"after"}); len(errs) > 0 {
		t.Errorf("Send after the window freed: %v", errs)
	}
}

// TestUnroutable checks the mandatory flag: a publish no queue is bound for
// fails its own send with ErrUnroutable.
func TestUnroutable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		subs    []string // subscriptions of the topic
		part    int32
		foreign bool // send through a System that did not create the topic
		want    error
	}{
		// No subscription: the produce-only queues take the messages,
		// which RabbitMQ would otherwise drop.
		{name: "no subscriptions", part: 0},
		// A System that does not know the partition count cannot check it
		// locally; the broker's return catches it.
		{name: "partition out of range, remote check", subs: []string{"s"}, part: 5, foreign: true, want: ErrUnroutable},
		// A System that created the topic refuses before publishing.
		{name: "partition out of range, local check", subs: []string{"s"}, part: 5, want: adapters.ErrBadPartition},
		{name: "bad partition", subs: []string{"s"}, part: -2, want: adapters.ErrBadPartition},
		{name: "routable", subs: []string{"s"}, part: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, QueueClassic)
			topic := newTopic(t, r, 2, tc.subs...)
			sender := r
			if tc.foreign {
				sender = newRabbit(t, QueueClassic)
			}
			p := newProducer(t, sender, adapters.ProducerConfig{ID: "unroutable", Acks: adapters.AcksLeader})
			errs := sendAll(t, p, topic, tc.part, []string{"x", "y"})
			if tc.want == nil {
				if len(errs) != 0 {
					t.Fatalf("errors: %v", errs)
				}
				return
			}
			if len(errs) != 2 || !errors.Is(errs[0], tc.want) || !errors.Is(errs[1], tc.want) {
				t.Fatalf("errors = %v, want two wrapping %v", errs, tc.want)
			}
		})
	}
}

// TestAcksNone: sends complete without confirms, messages still arrive, and
// returns are reported by Flush since the sends already succeeded.
func TestAcksNone(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueQuorum)
	topic := newTopic(t, r, 1, "sub")
	p := newProducer(t, r, adapters.ProducerConfig{ID: "acks0", Acks: adapters.AcksNone})
	if errs := sendAll(t, p, topic, 0, []string{"a", "b", "c"}); len(errs) > 0 {
		t.Fatalf("send errors: %v", errs)
	}
	adaptertest.WaitFor(t, 10*time.Second, "3 messages in the queue", func() bool {
		lag, err := r.Lag(t.Context(), topic, "sub")
		return err == nil && lag[0] == 3
	})

	// A System that did not create the topic cannot check the partition;
	// the broker returns the message.
	foreign := newProducer(t, newRabbit(t, QueueQuorum), adapters.ProducerConfig{ID: "acks0-foreign", Acks: adapters.AcksNone})
	if errs := sendAll(t, foreign, topic, 7, []string{"lost"}); len(errs) > 0 {
		t.Fatalf("acks=0 send reported %v, want success at write time", errs)
	}
	adaptertest.WaitFor(t, 10*time.Second, "Flush to report the return", func() bool {
		return errors.Is(foreign.Flush(t.Context()), ErrUnroutable)
	})
	if err := foreign.Flush(t.Context()); err != nil {
		t.Errorf("second Flush reported the same return again: %v", err)
	}
}

// TestUnknownTopic: a send to a missing exchange fails alone; the producer's
// channel survives (the broker would close it on a 404).
func TestUnknownTopic(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueClassic)
	topic := newTopic(t, r, 1, "sub")
	p := newProducer(t, r, adapters.ProducerConfig{ID: "unknown", Acks: adapters.AcksAll})
	errs := sendAll(t, p, "bbrabbit-missing-"+adaptertest.Suffix(), 0, []string{"x"})
	if len(errs) != 1 || !errors.Is(errs[0], adapters.ErrTopicNotFound) {
		t.Fatalf("send to a missing topic: %v, want adapters.ErrTopicNotFound", errs)
	}
	if errs := sendAll(t, p, topic, 0, []string{"y"}); len(errs) > 0 {
		t.Fatalf("send after the failed one: %v", errs)
	}
}

// TestRoutingToPartition: partition i receives exactly the i+1 messages
// sent to it, and Partition -1 picks a partition by key, stably.
func TestRoutingToPartition(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueQuorum)
	const parts = 4
	topic := newTopic(t, r, parts, "sub")
	p := newProducer(t, r, adapters.ProducerConfig{ID: "route", Acks: adapters.AcksAll})
	for i := range int32(parts) {
		vals := make([]string, i+1)
		for j := range vals {
			vals[j] = fmt.Sprint(i, "-", j)
		}
		if errs := sendAll(t, p, topic, i, vals); len(errs) > 0 {
			t.Fatalf("partition %d: %v", i, errs)
		}
	}
	want := map[int32]int64{0: 1, 1: 2, 2: 3, 3: 4}
	lag, err := r.Lag(t.Context(), topic, "sub")
	if err != nil || fmt.Sprint(lag) != fmt.Sprint(want) {
		t.Fatalf("queue depths = %v (err %v), want %v", lag, err, want)
	}

	got := make(chan int32, 2)
	for range 2 {
		p.Send(t.Context(), &adapters.Message{Topic: topic, Partition: -1, Key: []byte("same key")},
			func(res adapters.SendResult, err error) {
				if err != nil {
					t.Errorf("keyed send: %v", err)
				}
				got <- res.Partition
			})
	}
	a, b := <-got, <-got
	if a != b || a < 0 || a >= parts {
		t.Errorf("keyed sends went to partitions %d and %d, want one stable partition in range", a, b)
	}
}

// TestSendCancelledAndClosed: done reports ctx and Close errors exactly once.
func TestSendCancelledAndClosed(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueClassic)
	topic := newTopic(t, r, 1, "sub")
	p, err := r.NewProducer(t.Context(), adapters.ProducerConfig{ID: "cancel", Acks: adapters.AcksAll})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var errs []error
	record := func(_ adapters.SendResult, err error) { errs = append(errs, err) }
	p.Send(ctx, &adapters.Message{Topic: topic, Partition: 0}, record)
	if err := p.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	p.Send(t.Context(), &adapters.Message{Topic: topic, Partition: 0}, record)
	if len(errs) != 2 || !errors.Is(errs[0], context.Canceled) || !errors.Is(errs[1], adapters.ErrClosed) {
		t.Fatalf("errors = %v, want [context canceled, closed]", errs)
	}
	if err := p.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
