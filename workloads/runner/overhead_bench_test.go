package runner_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/kafka"
	"github.com/brokerbench/brokerbench/internal/overhead"
	"github.com/brokerbench/brokerbench/refbroker"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
)

// Settings both sides of BenchmarkHarnessOverhead share: 1 KiB
// incompressible values, one partition, acks=all, idempotent, no
// compression, at most 1000 records in flight; consumers poll at most 500
// records (Kafka's max.poll.records, the adapter's default) and commit
// every second.
const (
	overheadSize     = 1024
	overheadInFlight = 1000
	overheadPoll     = 500
	overheadRounds   = 5
	// publishWindow is each publish measurement's length.
	publishWindow = 3 * time.Second
	// drainBacklog is the consume side's backlog: about 0.5 GiB, a few
	// seconds of draining, so joining the group is a small part of it.
	drainBacklog = 500_000
	// drainFloor is what a backlog drain may leave, as the runner (and
	// OMB) allow: the raw loop stops at the same point.
	drainFloor = 1000
)

// BenchmarkHarnessOverhead proves the harness is not the bottleneck: on
// an embedded refbroker, in one run, it compares a minimal hand-written
// franz-go loop with `brokerbench run` through the runner and the Kafka
// adapter, with the same settings, in both directions:
//
//   - publish: produce at maximum rate for a fixed window;
//   - consume: drain a pre-built backlog, timed from creating the consumer
//     (so both sides pay for joining the group) until all but drainFloor
//     messages have been read.
//
// The two loads alternate over the rounds, each on a fresh broker and data
// directory; each side's median and their ratio, which must be at least
// 0.9, are reported (docs/performance.md).
func BenchmarkHarnessOverhead(b *testing.B) {
	b.Run("publish", func(b *testing.B) {
		var r overhead.Rates
		for b.Loop() {
			r = overhead.Compare(b, overhead.Rounds(overheadRounds), freshBroker, rawPublish, harnessPublish)
		}
		r.Report(b, "franz-go")
	})
	b.Run("consume", func(b *testing.B) {
		var r overhead.Rates
		for b.Loop() {
			r = overhead.Compare(b, overhead.Rounds(overheadRounds), freshBroker, rawConsume, harnessConsume)
		}
		r.Report(b, "franz-go")
	})
}

// freshBroker starts a refbroker on its own data directory; the returned
// func closes it and removes the directory, since gigabytes of finished
// segments left in the page cache would tax the later rounds.
func freshBroker(tb testing.TB) (string, func()) {
	dir, err := os.MkdirTemp("", "bb-overhead-")
	if err != nil {
		tb.Fatal(err)
	}
	broker, err := refbroker.Start(context.Background(), refbroker.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		os.RemoveAll(dir)
		tb.Fatal(err)
	}
	return broker.Addr(), func() {
		broker.Close()
		os.RemoveAll(dir)
	}
}

// overheadValue is the raw loops' payload: incompressible-looking bytes,
// as the harness sends (kgo would otherwise compress zeros to nothing).
func overheadValue() []byte {
	v := make([]byte, overheadSize)
	for i := range v {
		v[i] = byte(i*7919 + i>>3)
	}
	return v
}

// rawTopic creates a one-partition topic for a raw loop with a producer
// client configured as the adapter configures its own.
func rawTopic(tb testing.TB, addr string) (*kgo.Client, string) {
	topic := "raw-" + randomHex()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxBufferedRecords(overheadInFlight),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		cl.Close()
		tb.Fatal(err)
	}
	return cl, topic
}

// produce is the simplest correct franz-go produce loop: Produce with a
// promise, MaxBufferedRecords bounding what is in flight (Produce blocks
// at the bound), until more returns false. It returns the acked count.
func produce(cl *kgo.Client, topic string, more func(sent int) bool) int64 {
	value := overheadValue()
	var acked atomic.Int64
	var wg sync.WaitGroup
	for sent := 0; more(sent); sent++ {
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			if err == nil {
				acked.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	return acked.Load()
}

// rawPublish is the publish baseline: produce for publishWindow.
func rawPublish(tb testing.TB, addr string) overhead.Window {
	cl, topic := rawTopic(tb, addr)
	defer cl.Close()
	start := time.Now()
	acked := produce(cl, topic, func(int) bool { return time.Since(start) < publishWindow })
	return overhead.Window{Messages: acked, Start: start, End: time.Now()}
}

// rawConsume is the consume baseline: build the backlog, then time a
// group consumer draining it with a plain poll loop.
func rawConsume(tb testing.TB, addr string) overhead.Window {
	pcl, topic := rawTopic(tb, addr)
	acked := produce(pcl, topic, func(sent int) bool { return sent < drainBacklog })
	pcl.Close()
	if acked != drainBacklog {
		tb.Fatalf("backlog: %d of %d records acknowledged", acked, drainBacklog)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("raw-"+randomHex()), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	var n int64
	for n < drainBacklog-drainFloor {
		fs := cl.PollRecords(ctx, overheadPoll)
		if err := ctx.Err(); err != nil {
			tb.Fatalf("raw drain: %d of %d records after a minute", n, drainBacklog)
		}
		fs.EachRecord(func(*kgo.Record) { n++ })
	}
	return overhead.Window{Messages: n, Start: start, End: time.Now()}
}

// harnessPublish runs the same publish load through the runner and the
// Kafka adapter.
func harnessPublish(tb testing.TB, addr string) overhead.Window {
	w, err := overhead.PublishWindow(runKafka(tb, addr, overhead.PublishWorkload(overheadSize, overheadInFlight, publishWindow)))
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// harnessConsume runs a backlog-drain workload of the same size through
// the runner and the Kafka adapter.
func harnessConsume(tb testing.TB, addr string) overhead.Window {
	wl := overhead.DrainWorkload(overheadSize, drainBacklog)
	wl.Delivery.MaxInFlight = overheadInFlight
	w, err := overhead.DrainWindow(runKafka(tb, addr, wl))
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

func runKafka(tb testing.TB, addr string, w workloads.Workload) *results.Result {
	cfg := kafka.Config{}.Default()
	cfg.Brokers = []string{addr}
	return overhead.RunOn(tb, w, func(ctx context.Context) (adapters.System, error) { return kafka.New(ctx, cfg) })
}

func randomHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
