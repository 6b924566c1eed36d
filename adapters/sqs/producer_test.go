package sqs_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/adapters/sqs"
)

// TestCloseFailsUnsentBatches: when Close's context ends while a batch is
// stuck in flight, the entries never sent fail with ErrClosed, the stuck
// batch completes when its request does, and every done callback runs
// exactly once.
func TestCloseFailsUnsentBatches(t *testing.T) {
	t.Parallel()
	var hold atomic.Bool
	stuck, unblock := make(chan struct{}, 1), make(chan struct{})
	cfg := interceptedConfig(t, func(_ http.ResponseWriter, r *http.Request) bool {
		if hold.Load() && r.Header.Get("X-Amz-Target") == "AmazonSQS.SendMessageBatch" {
			select {
			case stuck <- struct{}{}:
			default:
			}
			<-unblock
		}
		return false
	})
	cfg.SendConcurrency = 1
	s, err := sqs.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	topic := newTopic(t, s, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}})
	p, err := s.NewProducer(t.Context(), adapters.ProducerConfig{ID: "stuck"})
	if err != nil {
		t.Fatal(err)
	}
	hold.Store(true)
	const n = 25
	var mu sync.Mutex
	calls := map[int]int{}
	var closedErrs atomic.Int32
	for i := range n {
		p.Send(t.Context(), &adapters.Message{Topic: topic, Partition: 0, Value: []byte{byte(i)}}, func(_ adapters.SendResult, err error) {
			mu.Lock()
			calls[i]++
			mu.Unlock()
			if errors.Is(err, adapters.ErrClosed) {
				closedErrs.Add(1)
			}
		})
	}
	<-stuck // one batch is in flight and held; the rest wait for its slot
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a stuck batch = %v, want a deadline error", err)
	}
	if got := closedErrs.Load(); got == 0 || got >= n {
		t.Fatalf("%d sends failed with ErrClosed; want the unsent ones, not the batch in flight", got)
	}
	close(unblock)
	adaptertest.WaitFor(t, 30*time.Second, "every done callback", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) == n
	})
	mu.Lock()
	defer mu.Unlock()
	for i, c := range calls {
		if c != 1 {
			t.Errorf("send %d: done called %d times", i, c)
		}
	}
}
