package e2e_test

import (
	"context"
	"crypto/rand"
	"flag"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/refbroker"
	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// benchRecords sizes every benchmark iteration. 500k records of 1 KiB is
// about 500 MB, a few seconds per phase on a loaded 2-core machine, so
// each benchmark stays under ~20 s with -benchtime=1x.
var benchRecords = flag.Int("e2e.records", 500_000, "records per benchmark phase (1 KiB values)")

// benchFsync is refbroker's fsync policy in the benchmarks; the default is
// the broker's own default. "never" takes the disk out of the produce
// figure, to tell disk-bound from CPU-bound results apart.
var benchFsync = flag.String("e2e.fsync", "interval", "refbroker fsync policy in benchmarks: never, interval or always")

const (
	benchValueBytes = 1024
	benchTopic      = "bench"
)

// benchTarget is a broker implementation under benchmark. start returns
// its address and a stop function the caller must call (directly or via
// b.Cleanup): BenchmarkCompare stops each broker right after its round so
// that neither kfake's in-memory log nor refbroker's files and mappings
// weigh on the next measurement in the same process.
type benchTarget struct {
	name  string
	start func(b *testing.B) (addr string, stop func())
}

// benchTargets returns refbroker with its production defaults (64 MiB
// segments, fsync every second unless -e2e.fsync says otherwise) and a
// one-broker in-memory kfake.
func benchTargets() []benchTarget {
	return []benchTarget{
		{"refbroker", func(b *testing.B) (string, func()) {
			fsync, err := storage.ParseFsync(*benchFsync)
			if err != nil {
				b.Fatalf("-e2e.fsync: %v", err)
			}
			cfg := refbroker.Config{Listen: "127.0.0.1:0", DataDir: b.TempDir(), Logger: testLogger()}
			cfg.Storage.Fsync = fsync
			br, err := refbroker.Start(context.Background(), cfg)
			if err != nil {
				b.Fatalf("refbroker.Start: %v", err)
			}
			return br.Addr(), func() {
				if err := br.Close(); err != nil {
					b.Errorf("refbroker Close: %v", err)
				}
			}
		}},
		{"kfake", func(b *testing.B) (string, func()) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				b.Fatalf("kfake.NewCluster: %v", err)
			}
			return c.ListenAddrs()[0], c.Close
		}},
	}
}

// benchValues returns 8192 distinct random 1 KiB values, non-overlapping
// windows of an 8 MiB random buffer. kgo compresses each batch (at most
// 1 MB) with snappy and sends it uncompressed when that does not shrink
// it; random values that never repeat within a batch make every batch
// incompressible, so MB/s is the payload actually moved through the
// broker and neither side spends time on decompression.
func benchValues(b *testing.B) [][]byte {
	b.Helper()
	buf := make([]byte, 8<<20)
	_, _ = rand.Read(buf)
	vs := make([][]byte, len(buf)/benchValueBytes)
	for i := range vs {
		vs[i] = buf[i*benchValueBytes : (i+1)*benchValueBytes : (i+1)*benchValueBytes]
	}
	return vs
}

// throughput is one measured phase.
type throughput struct {
	records int
	elapsed time.Duration
}

func (th throughput) recordsPerSec() float64 { return float64(th.records) / th.elapsed.Seconds() }

// mbPerSec is payload megabytes (1e6 bytes of record values) per second.
func (th throughput) mbPerSec() float64 {
	return th.recordsPerSec() * benchValueBytes / 1e6
}

// benchProduce produces n records with kgo's producer defaults (acks=all,
// idempotent, 10ms linger, snappy) to partition 0 of topic, waiting
// for every acknowledgement, and returns the elapsed time.
func benchProduce(b *testing.B, addr, topic string, n int, values [][]byte) throughput {
	b.Helper()
	cl := newClient(b, addr, kgo.DefaultProduceTopic(topic))
	defer cl.Close()
	ctx := context.Background()
	var failed atomic.Int64
	var firstErr atomic.Value
	promise := func(_ *kgo.Record, err error) {
		if err != nil && failed.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	start := time.Now()
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: values[i%len(values)]}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatalf("flush: %v", err)
	}
	th := throughput{records: n, elapsed: time.Since(start)}
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d records failed, first: %v", f, n, firstErr.Load())
	}
	return th
}

// benchConsume reads n records of partition 0 of topic from the start
// with kgo's consumer defaults (1 MiB per partition per fetch) and returns
// the elapsed time.
func benchConsume(b *testing.B, addr, topic string, n int) throughput {
	return benchConsumeWith(b, addr, n, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()},
	}))
}

// benchConsumeWith reads n records with a client consuming as opts say
// and returns the elapsed time.
func benchConsumeWith(b *testing.B, addr string, n int, opts ...kgo.Opt) throughput {
	b.Helper()
	cl := newClient(b, addr, opts...)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			b.Fatalf("consume after %d of %d records: %v", got, n, err)
		}
		got += fs.NumRecords()
	}
	return throughput{records: n, elapsed: time.Since(start)}
}

// setupTopic creates a one-partition benchmark topic.
func setupTopic(b *testing.B, addr, topic string) {
	b.Helper()
	createTopic(b, newAdmin(b, addr), topic, 1)
}

// BenchmarkProduce measures produce throughput (records/s, MB/s of 1 KiB
// values) of one kgo producer into one partition, per implementation.
func BenchmarkProduce(b *testing.B) {
	for _, tgt := range benchTargets() {
		b.Run(tgt.name, func(b *testing.B) {
			addr, stop := tgt.start(b)
			b.Cleanup(stop)
			setupTopic(b, addr, benchTopic)
			values := benchValues(b)
			var total throughput
			for b.Loop() {
				th := benchProduce(b, addr, benchTopic, *benchRecords, values)
				total.records += th.records
				total.elapsed += th.elapsed
			}
			b.ReportMetric(total.recordsPerSec(), "records/s")
			b.ReportMetric(total.mbPerSec(), "MB/s")
		})
	}
}

// BenchmarkConsume measures how fast one kgo consumer reads pre-produced
// 1 KiB records of one partition from the start, per implementation.
func BenchmarkConsume(b *testing.B) {
	for _, tgt := range benchTargets() {
		b.Run(tgt.name, func(b *testing.B) {
			addr, stop := tgt.start(b)
			b.Cleanup(stop)
			setupTopic(b, addr, benchTopic)
			benchProduce(b, addr, benchTopic, *benchRecords, benchValues(b))
			var total throughput
			for b.Loop() {
				th := benchConsume(b, addr, benchTopic, *benchRecords)
				total.records += th.records
				total.elapsed += th.elapsed
			}
			b.ReportMetric(total.recordsPerSec(), "records/s")
			b.ReportMetric(total.mbPerSec(), "MB/s")
		})
	}
}

// compareRounds is how many times BenchmarkCompare alternates between the
// implementations: interleaving spreads the other engineers' load spikes
// on the shared machine over both instead of penalising one.
const compareRounds = 3

// BenchmarkCompare runs the produce and consume phases against refbroker
// and kfake in one benchmark, alternating compareRounds times with a fresh
// broker each round, and reports both implementations' MB/s (totals over
// the rounds) and the refbroker/kfake ratios. The performance target is a
// ratio of at least 1.5 for both phases.
func BenchmarkCompare(b *testing.B) {
	values := benchValues(b)
	n := *benchRecords
	prod := make(map[string]throughput)
	cons := make(map[string]throughput)
	add := func(m map[string]throughput, name string, th throughput) {
		t := m[name]
		t.records += th.records
		t.elapsed += th.elapsed
		m[name] = t
	}
	for b.Loop() {
		for range compareRounds {
			for _, tgt := range benchTargets() {
				b.StopTimer()
				addr, stop := tgt.start(b)
				setupTopic(b, addr, benchTopic)
				b.StartTimer()
				add(prod, tgt.name, benchProduce(b, addr, benchTopic, n, values))
				add(cons, tgt.name, benchConsume(b, addr, benchTopic, n))
				b.StopTimer()
				stop()
				runtime.GC() // free kfake's log before the next measurement
				b.StartTimer()
			}
		}
	}
	report := func(phase string, m map[string]throughput) {
		ref, fake := m["refbroker"], m["kfake"]
		ratio := ref.mbPerSec() / fake.mbPerSec()
		b.ReportMetric(ref.mbPerSec(), "refbroker-"+phase+"-MB/s")
		b.ReportMetric(fake.mbPerSec(), "kfake-"+phase+"-MB/s")
		b.ReportMetric(ratio, phase+"-ratio")
		b.Logf("%s: refbroker %.0f records/s (%.1f MB/s), kfake %.0f records/s (%.1f MB/s), ratio %.2fx (target >= 1.5x); %d rounds of %d records of %d B",
			phase, ref.recordsPerSec(), ref.mbPerSec(), fake.recordsPerSec(), fake.mbPerSec(), ratio, compareRounds, n, benchValueBytes)
	}
	report("produce", prod)
	report("consume", cons)
}
