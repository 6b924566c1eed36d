package runner

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/workloads"
)

// sendPath returns one send through the runner's producer side with an
// adapter that completes at once: schedule bookkeeping, header, key choice
// and partitioning, three histogram records and the acked-set update.
func sendPath(kd workloads.KeyDistribution) func() {
	r := &run{epoch: time.Now(), topics: []*topicState{{acked: make([]atomic.Int64, 16)}}}
	pr := &producer{
		run: r, partitions: 16,
		keys:    kd.NewChooser(1),
		latency: metrics.NewGroup(kindPublishDelay + 1),
	}
	pr.client.Store(&producerClient{Producer: instantProducer{}})
	newSlots(pr, 1, 1024, make([]byte, 1024))
	ctx := context.Background()
	var seq uint64
	return func() {
		s := <-pr.slots
		now := r.now()
		pr.send(ctx, s, seq, now, now)
		seq++
	}
}

// receivePath returns one delivery through the runner's consumer side:
// header parse, two histogram records, duplicate and order tracking.
func receivePath() func() {
	r := &run{epoch: time.Now(), producers: []*producer{{}}}
	// Every sequence number below this counts as sent, as the header
	// check requires.
	r.producers[0].sent.Store(math.MaxInt64)
	sub := newSubscription(r, 0, "s", 16, 1)
	c := &consumer{sub: sub, endToEnd: newEndToEnd()}
	value := make([]byte, 1024)
	d := &adapters.Delivery{Value: value}
	var seq uint64
	return func() {
		now := r.now()
		putHeader(value, header{seq: seq, intended: now, sent: now})
		d.Partition = int32(seq % 16)
		c.handle(d)
		seq++
	}
}

// hotPathKeys are the key distributions the send path is held to: none,
// and a Zipf chooser (the most work per key).
var hotPathKeys = []workloads.KeyDistribution{{Kind: "NO_KEY"}, {Kind: "ZIPF", Keys: 1000, Exponent: 1.1}}

// TestHotPathsDoNotAllocate turns the benchmarks' "0 allocs/op" into a
// promise: an allocation per message on either path would make the
// garbage collector part of every latency figure (docs/measurement.md).
// The race detector allocates on its own, so it is not counted there.
func TestHotPathsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's own allocations would be counted; run without -race")
	}
	paths := map[string]func(){"receive": receivePath()}
	for _, kd := range hotPathKeys {
		paths["send "+kd.Kind] = sendPath(kd)
	}
	for name, path := range paths {
		path() // first use sizes what is sized lazily
		if n := testing.AllocsPerRun(1000, path); n != 0 {
			t.Errorf("%s path: %.1f allocations per message, want 0", name, n)
		}
	}
}
