package runner

import (
	"context"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/adapters/kafka"
	"github.com/brokerbench/brokerbench/refbroker"
)

// BenchmarkHarnessOverhead proves the harness is not the bottleneck: on
// one embedded refbroker, in the same run, it measures the produce rate of
// a minimal hand-written franz-go loop and of `brokerbench run` at max rate
// (closed loop) with the same settings: 1 KiB values, 1 partition,
// acks=all, idempotence on, no compression, 1000 records in flight. It reports both rates
// and their ratio, which must stay at or above 0.9.
func BenchmarkHarnessOverhead(b *testing.B) {
	const (
		size     = 1024
		inFlight = 1000
		window   = 3 * time.Second
		rounds   = 3
	)
	// Each measurement gets a fresh broker and a clean page cache, so
	// neither load pays for the other's writeback, and the order
	// alternates between rounds; each side's median is reported.
	measure := func(f func(b *testing.B, addr string, size, inFlight int, window time.Duration) float64) float64 {
		// Each window writes gigabytes; without a sync the kernel would
		// write the previous window's pages back during the next one and
		// charge it to whichever load comes second.
		syscall.Sync()
		// A data dir per window, removed after it: gigabytes of finished
		// segments left in the page cache would tax the later rounds.
		dir, err := os.MkdirTemp("", "bb-overhead-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
		broker, err := refbroker.Start(context.Background(), refbroker.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		defer broker.Close()
		return f(b, broker.Addr(), size, inFlight, window)
	}
	var raw, harness float64
	for b.Loop() {
		var raws, harnesses []float64
		for i := range rounds {
			if i%2 == 0 {
				raws = append(raws, measure(rawFranzRate))
				harnesses = append(harnesses, measure(harnessRate))
			} else {
				harnesses = append(harnesses, measure(harnessRate))
				raws = append(raws, measure(rawFranzRate))
			}
		}
		b.Logf("rounds: franz-go %.0f, brokerbench %.0f msg/s", raws, harnesses)
		raw, harness = median(raws), median(harnesses)
	}
	b.ReportMetric(raw, "franz-go-msg/s")
	b.ReportMetric(harness, "brokerbench-msg/s")
	b.ReportMetric(harness/raw, "ratio")
	b.Logf("franz-go loop %.0f msg/s, brokerbench %.0f msg/s, ratio %.2f", raw, harness, harness/raw)
}

// rawFranzRate is the baseline: the simplest correct franz-go produce loop
// with a bounded number of records in flight.
func rawFranzRate(b *testing.B, addr string, size, inFlight int, window time.Duration) float64 {
	topic := "raw-" + randomID()
	// No compression and random bytes, as the harness sends: kgo would
	// otherwise snappy-compress, and zeros compress to nothing.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxBufferedRecords(inFlight),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i*7919 + i>>3)
	}
	var acked atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for time.Since(start) < window {
		wg.Add(1)
		// MaxBufferedRecords makes Produce block when inFlight records are
		// outstanding, the same bound the harness uses.
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			if err == nil {
				acked.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	return float64(acked.Load()) / time.Since(start).Seconds()
}

// harnessRate runs the same load through the runner and the Kafka adapter.
func harnessRate(b *testing.B, addr string, size, inFlight int, window time.Duration) float64 {
	w := smallWorkload("overhead")
	w.PartitionsPerTopic, w.ProducerRate, w.MessageSize = 1, 0, size
	w.Delivery.MaxInFlight = inFlight
	w.WarmupDuration, w.TestDuration = 0, window
	w.SubscriptionsPerTopic = 0
	rn, err := New(Logger(quietLogger()))
	if err != nil {
		b.Fatal(err)
	}
	cfg := kafka.Config{}.Default()
	cfg.Brokers = []string{addr}
	sys, err := kafka.New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	// Closed here, not at the end of the benchmark: a client left behind
	// keeps polling its dead broker and taxes every later round.
	defer sys.Close()
	res, err := rn.Run(context.Background(), w, sys)
	if err != nil {
		b.Fatal(err)
	}
	return float64(res.Counts.Acked) / (res.Meta.MeasuredSeconds)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
