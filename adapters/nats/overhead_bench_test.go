//go:build unix

package nats_test

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	bbnats "github.com/brokerbench/brokerbench/adapters/nats"
	"github.com/brokerbench/brokerbench/internal/overhead"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
)

// Settings both sides of BenchmarkHarnessOverheadNATS use: the workload
// defaults (1 KiB values, one partition, acks=all, 1000 sends in flight,
// commits every second) and the adapter's defaults for them, which the raw
// loops copy (file storage, no Nats-Msg-Id, a pull batch of 1000, one
// cumulative ack per commit interval).
const (
	ohSize     = 1024
	ohInFlight = workloads.DefaultMaxInFlight
	ohWindow   = 3 * time.Second
	ohRounds   = 7
	// ohBacklog is the consume side's backlog: about 200 MB, a couple of
	// seconds of draining.
	ohBacklog = 200_000
	// ohDrainFloor is what the runner's drain may leave (it stops waiting
	// at 1000 messages, as OMB does); the raw loop stops there too.
	ohDrainFloor = 1000
	ohURL        = "nats://127.0.0.1:4222"
)

// BenchmarkHarnessOverheadNATS measures what brokerbench costs over a
// minimal raw nats.go JetStream loop with the same settings, per
// direction, alternating the two over ohRounds in one run (a fresh stream
// each time) and comparing medians (internal/overhead); the target is a
// ratio of at least 0.9 (docs/performance.md, "Harness overhead"):
//
//   - publish: one producer at maximum rate (closed loop) for a window;
//     acknowledged messages per second;
//   - consume: drain a pre-built backlog of ohBacklog messages with one
//     consumer, timed from creating the consumer to the drain; the
//     brokerbench side is the runner's backlog mode with its producers
//     paused during the drain (overhead.DrainWorkload), so the drain is
//     catch-up reads alone, as the raw loop's is.
//
// Beside the rates, both sides' process CPU per message in the window is
// reported (overhead.Rates.Report): on a machine shared with other work
// the rate follows the server's share of the cores, while the CPU per
// message is what the client side itself costs.
func BenchmarkHarnessOverheadNATS(b *testing.B) {
	adaptertest.RequireService(b, "nats", "127.0.0.1:4222")
	// Nothing is started afresh per measurement: each side creates its
	// own stream (the harness through the runner's topic) and deletes it.
	rounds := overhead.Rounds(ohRounds)
	b.Run("publish", func(b *testing.B) { overhead.Bench(b, rounds, "nats.go", rawPublish, harnessPublish) })
	b.Run("consume", func(b *testing.B) { overhead.Bench(b, rounds, "nats.go", rawConsume, harnessConsume) })
}

// rawStream connects and creates a one-subject file stream, deleted (with
// the connection closed) by the returned func. Publishes through the
// returned handle have ohInFlight as their async window and count their
// acks in acked.
func rawStream(tb testing.TB, acked *atomic.Int64) (jetstream.JetStream, string, func()) {
	tb.Helper()
	nc, err := natsgo.Connect(ohURL)
	if err != nil {
		tb.Fatal(err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(ohInFlight),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *natsgo.Msg, *jetstream.PubAck) { acked.Add(1) }))
	if err != nil {
		tb.Fatal(err)
	}
	name := "RAW_" + adaptertest.Suffix()
	subj := "raw." + name
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: name, Subjects: []string{subj}, Storage: jetstream.FileStorage, MaxBytes: -1, MaxMsgs: -1,
	}); err != nil {
		tb.Fatal(err)
	}
	return js, name, func() {
		_ = js.DeleteStream(context.Background(), name)
		nc.Close()
	}
}

// rawPublishFor publishes ohSize-byte random values to the stream's subject
// with at most ohInFlight unacknowledged, until more says stop, and waits
// for the acks.
func rawPublishFor(tb testing.TB, js jetstream.JetStream, stream string, more func(sent int) bool) {
	tb.Helper()
	value := make([]byte, ohSize)
	for i := range value {
		value[i] = byte(rand.Uint32())
	}
	subj := "raw." + stream
	for sent := 0; more(sent); sent++ {
		// A stall wait longer than any ack: PublishAsync blocks while
		// ohInFlight are outstanding, the same bound as the harness.
		if _, err := js.PublishAsync(subj, value, jetstream.WithStallWait(time.Minute)); err != nil {
			tb.Fatalf("raw publish: %v", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		tb.Fatal("raw publish: acks outstanding after a minute")
	}
}

// rawPublish is the publish baseline: the simplest correct async publish
// loop with a bounded window.
func rawPublish(tb testing.TB) overhead.Window {
	var acked atomic.Int64
	js, stream, done := rawStream(tb, &acked)
	defer done()
	start := time.Now()
	rawPublishFor(tb, js, stream, func(int) bool { return time.Since(start) < ohWindow })
	return overhead.Window{Messages: acked.Load(), Start: start, End: time.Now()}
}

// rawConsume is the consume baseline: build the backlog, then time a pull
// consumer draining it with the adapter's settings: MaxAckPending and a
// pull batch of 1000, and a cumulative ack (AckAll) every second or every
// 500 messages, whichever comes first (without the count the server would
// stop at MaxAckPending and wait for an ack that never comes).
func rawConsume(tb testing.TB) overhead.Window {
	var acked atomic.Int64
	js, stream, done := rawStream(tb, &acked)
	defer done()
	rawPublishFor(tb, js, stream, func(sent int) bool { return sent < ohBacklog })
	if acked.Load() != ohBacklog {
		tb.Fatalf("backlog: %d of %d acknowledged", acked.Load(), ohBacklog)
	}
	ctx := context.Background()
	start := time.Now()
	cons, err := js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: "raw", AckPolicy: jetstream.AckAllPolicy, MaxAckPending: 1000, AckWait: 30 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		tb.Fatal(err)
	}
	defer it.Stop()
	n, unacked, last := 0, 0, time.Now()
	for n < ohBacklog-ohDrainFloor {
		msg, err := it.Next()
		if err != nil {
			tb.Fatalf("raw drain after %d: %v", n, err)
		}
		n++
		if unacked++; unacked >= 500 || time.Since(last) >= time.Second || n == ohBacklog-ohDrainFloor {
			if err := msg.Ack(); err != nil {
				tb.Fatal(err)
			}
			unacked, last = 0, time.Now()
		}
	}
	return overhead.Window{Messages: int64(n), Start: start, End: time.Now()}
}

// harnessPublish runs the publish load through the runner and the adapter
// as the run command does.
func harnessPublish(tb testing.TB) overhead.Window {
	w := overhead.PublishWorkload(ohSize, ohInFlight, ohWindow)
	win, err := overhead.PublishWindow(runHarness(tb, w))
	if err != nil {
		tb.Fatal(err)
	}
	return win
}

// harnessConsume runs the backlog workload through the runner, its
// producers paused while the consumer drains.
func harnessConsume(tb testing.TB) overhead.Window {
	win, err := overhead.DrainWindow(runHarness(tb, overhead.DrainWorkload(ohSize, ohBacklog)))
	if err != nil {
		tb.Fatal(err)
	}
	return win
}

// runHarness runs w through the runner on a NATS adapter of its own,
// closed when the run ends.
func runHarness(tb testing.TB, w workloads.Workload) *results.Result {
	tb.Helper()
	return overhead.RunOn(tb, w, func(ctx context.Context) (adapters.System, error) { return bbnats.New(ctx, bbnats.Config{}.Default()) })
}
