package runner

import (
	"context"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
)

// instantProducer completes every send at once, so the benchmark below
// measures only the runner's own per-message work.
type instantProducer struct{}

func (instantProducer) Send(_ context.Context, m *adapters.Message, done func(adapters.SendResult, error)) {
	done(adapters.SendResult{Partition: m.Partition, Offset: 0}, nil)
}
func (instantProducer) Flush(context.Context) error { return nil }
func (instantProducer) Close(context.Context) error { return nil }

// BenchmarkSendPath is the per-message cost of the runner's producer side
// (sendPath). It must not allocate: TestHotPathsDoNotAllocate holds it to
// that.
func BenchmarkSendPath(b *testing.B) {
	for _, kd := range hotPathKeys {
		b.Run(kd.Kind, func(b *testing.B) {
			send := sendPath(kd)
			b.SetBytes(1024)
			b.ReportAllocs()
			for b.Loop() {
				send()
			}
		})
	}
}

// BenchmarkReceivePath is the per-message cost of the consumer side
// (receivePath).
func BenchmarkReceivePath(b *testing.B) {
	receive := receivePath()
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		receive()
	}
}
