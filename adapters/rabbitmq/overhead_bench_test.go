package rabbitmq_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/adapters/rabbitmq"
	"github.com/brokerbench/brokerbench/internal/overhead"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
)

// Settings both sides of BenchmarkHarnessOverheadRabbitMQ share: 1 KiB
// messages, one partition, publisher confirms, persistent messages, the
// adapter's confirm window and prefetch (read from its ClientSettings, so
// the raw loops follow the adapter's defaults), multiple-acks every half
// prefetch.
const (
	overheadSize     = 1024
	overheadInFlight = 1000
	overheadRounds   = 5
	publishWindow    = 3 * time.Second
	// drainBacklog is the consume side's backlog: 50 MiB, a few seconds
	// of draining, small enough for the broker's memory on a shared
	// machine.
	drainBacklog = 50_000
	// drainFloor is what a backlog drain may leave, as the runner (and
	// OMB) allow: the raw loop stops at the same point.
	drainFloor = 1000
)

// overheadQueues are the two queue kinds compared, with the durability
// level that makes the adapter choose each.
// The transient classic queue is the broker's fastest path, so the one
// where the client's cost shows most.
var overheadQueues = []struct {
	name, qtype string
	level       adapters.Durability
	durable     bool
	mode        uint8
}{
	{"classic", "classic", adapters.DurabilityAsyncDisk, true, amqp.Persistent},
	{"quorum", "quorum", adapters.DurabilitySyncDisk, true, amqp.Persistent},
	{"transient", "classic", adapters.DurabilityMemory, false, amqp.Transient},
}

// BenchmarkHarnessOverheadRabbitMQ compares, on the local RabbitMQ, a
// minimal amqp091-go loop with `brokerbench run` through the runner and
// this adapter, with the same settings, on classic and quorum queues, in
// both directions:
//
//   - publish: one producer at maximum rate for a fixed window;
//   - consume: drain a pre-built backlog, timed from the consumer's start
//     until all but drainFloor messages have been read.
//
// The loads alternate over the rounds; each side's median and their ratio,
// which should be at least 0.9, are reported (docs/performance.md).
func BenchmarkHarnessOverheadRabbitMQ(b *testing.B) {
	adaptertest.RequireService(b, "rabbitmq", "127.0.0.1:5672")
	window, prefetch, ackEvery := adapterSettings(b)
	// Nothing to start afresh per measurement: each side declares its own
	// queues and deletes them.
	rounds := overhead.Rounds(overheadRounds)
	for _, q := range overheadQueues {
		b.Run(q.name+"/publish", func(b *testing.B) {
			overhead.Bench(b, rounds, "amqp091",
				func(tb testing.TB) overhead.Window {
					rq := newRawQueue(tb, q.qtype, q.durable)
					defer rq.close()
					w, _, _ := rawPublish(tb, rq, overheadSize, window, 0, q.mode, publishWindow)
					return w
				},
				func(tb testing.TB) overhead.Window {
					w := overhead.PublishWorkload(overheadSize, overheadInFlight, publishWindow)
					w.Durability = string(q.level)
					win, err := overhead.PublishWindow(runRabbit(tb, w))
					if err != nil {
						tb.Fatal(err)
					}
					return win
				})
		})
		b.Run(q.name+"/consume", func(b *testing.B) {
			overhead.Bench(b, rounds, "amqp091",
				func(tb testing.TB) overhead.Window {
					rq := newRawQueue(tb, q.qtype, q.durable)
					defer rq.close()
					rawPublish(tb, rq, overheadSize, window, drainBacklog, q.mode, 0)
					return rawDrain(tb, rq, drainBacklog, drainFloor, prefetch, ackEvery)
				},
				func(tb testing.TB) overhead.Window {
					w := overhead.DrainWorkload(overheadSize, drainBacklog)
					w.Durability = string(q.level)
					w.Delivery.MaxInFlight = overheadInFlight
					win, err := overhead.DrainWindow(runRabbit(tb, w))
					if err != nil {
						tb.Fatal(err)
					}
					return win
				})
		})
	}
}

// adapterSettings reads the confirm window, prefetch and ack batch the
// adapter uses for the benchmark's producer and consumer from its
// ClientSettings, so that the raw loops use the same.
func adapterSettings(tb testing.TB) (window, prefetch, ackEvery int) {
	sys, err := rabbitmq.New(context.Background(), rabbitmq.Config{}.Default())
	if err != nil {
		tb.Fatal(err)
	}
	defer sys.Close()
	found := 0
	for _, s := range sys.ClientSettings(adapters.ProducerConfig{ID: "raw", Acks: adapters.AcksAll, MaxInFlight: overheadInFlight},
		adapters.ConsumerConfig{ID: "raw", CommitInterval: workloads.DefaultCommitInterval}) {
		var err error
		switch s.Name {
		case "publisher confirms":
			_, err = fmt.Sscanf(s.Value, "on, window %d", &window)
		case "prefetch (basic.qos per partition)":
			_, err = fmt.Sscanf(s.Value, "%d", &prefetch)
		case "acknowledgement":
			_, err = fmt.Sscanf(s.Value[strings.Index(s.Value, " or every ")+1:], "or every %d", &ackEvery)
		default:
			continue
		}
		if err != nil {
			tb.Fatalf("client setting %+v: %v", s, err)
		}
		found++
	}
	if found != 3 {
		tb.Fatalf("found %d of the 3 client settings the raw loops follow", found)
	}
	return window, prefetch, ackEvery
}

// runRabbit runs w through the runner on a fresh adapter, closed after.
func runRabbit(tb testing.TB, w workloads.Workload) *results.Result {
	return overhead.RunOn(tb, w, func(ctx context.Context) (adapters.System, error) {
		return rabbitmq.New(ctx, rabbitmq.Config{}.Default())
	})
}
