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

// instantProducer completes every send at once, so the benchmark below
// measures only the runner's own per-message work.
type instantProducer struct{}

func (instantProducer) Send(_ context.Context, m *adapters.Message, done func(adapters.SendResult, error)) {
	done(adapters.SendResult{Partition: m.Partition, Offset: 0}, nil)
}
func (instantProducer) Flush(context.Context) error { return nil }
func (instantProducer) Close(context.Context) error { return nil }

// BenchmarkSendPath is the per-message cost of the runner's producer side:
// schedule bookkeeping, header, key choice and partitioning, three
// histogram records and the acked-set update. It must not allocate.
func BenchmarkSendPath(b *testing.B) {
	for _, kd := range []workloads.KeyDistribution{{Kind: "NO_KEY"}, {Kind: "ZIPF", Keys: 1000, Exponent: 1.1}} {
		b.Run(kd.Kind, func(b *testing.B) {
			r := &run{epoch: time.Now(), topics: []*topicState{{acked: make([]atomic.Int64, 16)}}}
			pr := &producer{
				run: r, partitions: 16,
				keys:    kd.NewChooser(1),
				latency: metrics.NewGroup(kindPublishDelay + 1),
			}
			pr.client.Store(&producerClient{Producer: instantProducer{}})
			newSlots(pr, 1, 1024, make([]byte, 1024))
			ctx := context.Background()
			b.SetBytes(1024)
			b.ReportAllocs()
			var seq uint64
			for b.Loop() {
				s := <-pr.slots
				now := r.now()
				pr.send(ctx, s, seq, now, now)
				seq++
			}
		})
	}
}

// BenchmarkReceivePath is the per-message cost of the consumer side:
// header parse, two histogram records, duplicate and order tracking.
func BenchmarkReceivePath(b *testing.B) {
	r := &run{epoch: time.Now(), producers: []*producer{{}}}
	// Every sequence number below this counts as sent, as the header
	// check requires.
	r.producers[0].sent.Store(math.MaxInt64)
	sub := newSubscription(r, 0, "s", 16, 1)
	c := &consumer{sub: sub, endToEnd: newLatency(), endToEndFromSend: newLatency()}
	value := make([]byte, 1024)
	d := &adapters.Delivery{Value: value}
	b.SetBytes(1024)
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		now := r.now()
		putHeader(value, header{seq: seq, intended: now, sent: now})
		d.Partition = int32(seq % 16)
		c.handle(d)
		seq++
	}
}
