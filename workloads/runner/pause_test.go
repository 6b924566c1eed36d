package runner

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/workloads"
)

// TestProducerPause checks pauseProducersDuringDrain's mechanism: a paused
// producer sends nothing, and once resumed its open-loop schedule starts
// where it paused instead of sending the paused time's messages in a burst.
func TestProducerPause(t *testing.T) {
	t.Parallel()
	const rate = 1000.0
	r := &run{epoch: time.Now(), topics: []*topicState{{acked: make([]atomic.Int64, 1)}}}
	pr := &producer{
		run: r, partitions: 1, rate: rate,
		keys:    workloads.KeyDistribution{Kind: "NO_KEY"}.NewChooser(1),
		latency: metrics.NewGroup(kindPublishDelay + 1),
	}
	pr.client.Store(&producerClient{Producer: instantProducer{}})
	newSlots(pr, 4, 64, make([]byte, 64))
	resume := make(chan struct{})
	r.paused.Store(&resume)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		pr.loop(context.Background(), time.Now(), stop)
	}()
	time.Sleep(300 * time.Millisecond)
	if n := pr.sent.Load(); n != 0 {
		t.Fatalf("a paused producer sent %d messages", n)
	}
	resumed := time.Now()
	r.paused.Store(nil)
	close(resume)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	stopped := time.Now()
	// The schedule owes what the time since resuming allows (plus the
	// message due at once), not the paused time's 300 messages too. The
	// messages due between the loop's start and its first look at the
	// pause are owed as well (they were late before the pause began, and
	// stay late): under -race on a loaded machine that gap has been a few
	// milliseconds, so 20 messages of slack, far below the burst this
	// test exists to catch.
	sent := pr.sent.Load()
	if owed := int64(stopped.Sub(resumed).Seconds()*rate) + 2 + 20; sent == 0 || sent > owed {
		t.Errorf("sent %d messages in the %v after resuming at %.0f msg/s, want 1..%d", sent, stopped.Sub(resumed), rate, owed)
	}
}
