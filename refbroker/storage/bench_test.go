package storage

import (
	"testing"
	"time"
)

// benchBatch is ~16 KiB: 16 records of 1 KiB values, as a batching
// producer sends them.
func benchBatch() []byte {
	return makeBatch(batchSpec{records: 16, valueSize: 1000, producerID: noProducer, fill: 'b'})
}

// BenchmarkAppend measures the produce path: validation (CRC-32C), copy
// into the mmap, index and bookkeeping; MB/s is of batch bytes. Retention
// keeps the disk footprint bounded; its cost is included.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []Fsync{FsyncNever, FsyncInterval} {
		b.Run(policy.String(), func(b *testing.B) {
			cfg := Config{Fsync: policy, RetentionBytes: 256 << 20, Logger: quietLogger()}
			l, _ := newLog(b, cfg)
			batch := benchBatch()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := l.Append(batch, 0); err != nil {
					b.Fatal(err)
				}
				if i%4096 == 4095 {
					if err := l.EnforceRetention(time.Now()); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRead measures a fetch of up to 1 MiB from a scattered offset:
// segment and index lookup, header walk, reference counting.
func BenchmarkRead(b *testing.B) {
	l, _ := newLog(b, Config{Fsync: FsyncNever, Logger: quietLogger()})
	batch := benchBatch()
	for range 2000 { // ~32 MiB, one segment
		if _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	hw := l.HighWatermark()
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		off := int64(i*7919) % hw
		r, err := l.Read(off, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		total += int64(len(r.Data))
		r.Release()
	}
	// Read is zero-copy, so MB/s would only measure the lookup; report the
	// size of each fetch instead.
	b.ReportMetric(float64(total)/float64(max(b.N, 1)), "bytes/read")
}
