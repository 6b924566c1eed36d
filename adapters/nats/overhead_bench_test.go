//go:build unix

package nats_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
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
	"github.com/brokerbench/brokerbench/workloads/runner"
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
// direction, alternating the two in one run (a fresh stream each time) and
// comparing medians; the target is a ratio of at least 0.9
// (docs/performance.md, "Harness overhead"):
//
//   - publish: one producer at maximum rate (closed loop) for a window;
//     acknowledged messages per second;
//   - consume: drain a pre-built backlog of ohBacklog messages with one
//     consumer, timed from creating the consumer to the drain; the
//     brokerbench side is the runner's backlog mode, with the producers
//     held while the consumers drain (pausingSystem), so the drain is
//     catch-up reads alone, as the raw loop's is.
func BenchmarkHarnessOverheadNATS(b *testing.B) {
	adaptertest.RequireService(b, "nats", "127.0.0.1:4222")
	b.Run("publish", func(b *testing.B) {
		var raw, harness []measurement
		for b.Loop() {
			raw, harness = compare(b, rawPublish, harnessPublish)
		}
		report(b, raw, harness)
	})
	b.Run("consume", func(b *testing.B) {
		var raw, harness []measurement
		for b.Loop() {
			raw, harness = compare(b, rawConsume, harnessConsume)
		}
		report(b, raw, harness)
	})
}

// measurement is one window of one side: its rate, and the CPU time this
// process spent per message over the window (getrusage: every goroutine,
// the GC and nats.go's included). On a machine shared with other work the
// rate follows the server's share of the cores, while the CPU per message
// is what the client side itself costs, so both are reported.
type measurement struct {
	rate     float64 // messages per second
	cpuPerMs float64 // CPU microseconds per message
}

// cpuClock returns the CPU time this process has used so far.
func cpuClock() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// window times one side's measured window: start it where the window
// starts and call the returned func with the message count where it ends.
func window() func(msgs int64) measurement {
	t0, c0 := time.Now(), cpuClock()
	return func(msgs int64) measurement {
		return measurement{
			rate:     float64(msgs) / time.Since(t0).Seconds(),
			cpuPerMs: float64(cpuClock()-c0) / float64(time.Microsecond) / float64(msgs),
		}
	}
}

// compare measures raw and harness ohRounds times each, alternating which
// goes first so neither always runs on a warmer (or more tired) machine.
func compare(b *testing.B, raw, harness func(testing.TB) measurement) (raws, harnesses []measurement) {
	for i := range overhead.Rounds(ohRounds) {
		if i%2 == 0 {
			raws = append(raws, raw(b))
			harnesses = append(harnesses, harness(b))
		} else {
			harnesses = append(harnesses, harness(b))
			raws = append(raws, raw(b))
		}
	}
	return raws, harnesses
}

func report(b *testing.B, raw, harness []measurement) {
	rates := func(ms []measurement) (v []float64) {
		for _, m := range ms {
			v = append(v, m.rate)
		}
		return v
	}
	cpus := func(ms []measurement) (v []float64) {
		for _, m := range ms {
			v = append(v, m.cpuPerMs)
		}
		return v
	}
	r, h := median(rates(raw)), median(rates(harness))
	rc, hc := median(cpus(raw)), median(cpus(harness))
	b.ReportMetric(r, "nats.go-msg/s")
	b.ReportMetric(h, "brokerbench-msg/s")
	b.ReportMetric(h/r, "ratio")
	b.ReportMetric(rc, "nats.go-cpu-us/msg")
	b.ReportMetric(hc, "brokerbench-cpu-us/msg")
	b.Logf("rounds: nats.go %.0f, brokerbench %.0f msg/s; medians %.0f / %.0f, ratio %.3f", rates(raw), rates(harness), r, h, h/r)
	b.Logf("client CPU per message: nats.go %.2f, brokerbench %.2f us; medians %.2f / %.2f, raw/brokerbench %.3f", cpus(raw), cpus(harness), rc, hc, rc/hc)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
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
func rawPublish(tb testing.TB) measurement {
	var acked atomic.Int64
	js, stream, done := rawStream(tb, &acked)
	defer done()
	start, end := time.Now(), window()
	rawPublishFor(tb, js, stream, func(int) bool { return time.Since(start) < ohWindow })
	return end(acked.Load())
}

// rawConsume is the consume baseline: build the backlog, then time a pull
// consumer draining it with the adapter's settings: MaxAckPending and a
// pull batch of 1000, and a cumulative ack (AckAll) every second or every
// 500 messages, whichever comes first (without the count the server would
// stop at MaxAckPending and wait for an ack that never comes).
func rawConsume(tb testing.TB) measurement {
	var acked atomic.Int64
	js, stream, done := rawStream(tb, &acked)
	defer done()
	rawPublishFor(tb, js, stream, func(sent int) bool { return sent < ohBacklog })
	if acked.Load() != ohBacklog {
		tb.Fatalf("backlog: %d of %d acknowledged", acked.Load(), ohBacklog)
	}
	ctx := context.Background()
	end := window()
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
	return end(int64(n))
}

// harnessPublish runs the publish load through the runner and the adapter.
// The CPU per message covers the whole run (setting up and tearing down
// included, a small part of a 3-second window).
func harnessPublish(tb testing.TB) measurement {
	w := workloads.Workload{Name: "overhead-publish", PartitionsPerTopic: 1, MessageSize: ohSize, ConsumerPerSubscription: 1, TestDuration: ohWindow}
	w.Default()
	w.SubscriptionsPerTopic, w.WarmupDuration = 0, 0 // Default reads 0 as unset
	w.Delivery.MaxInFlight = ohInFlight
	sys := newSystem(tb)
	c0 := cpuClock()
	res := runHarness(tb, w, sys)
	return measurement{
		rate:     float64(res.Counts.Acked) / res.Meta.MeasuredSeconds,
		cpuPerMs: float64(cpuClock()-c0) / float64(time.Microsecond) / float64(res.Counts.Acked),
	}
}

// harnessConsume runs the backlog workload through the runner with the
// producers held during the drain. The CPU per message covers the drain:
// from creating the first consumer to having received everything sent.
func harnessConsume(tb testing.TB) measurement {
	w := workloads.Workload{
		Name: "overhead-consume", PartitionsPerTopic: 1, MessageSize: ohSize,
		SubscriptionsPerTopic: 1, ConsumerPerSubscription: 1,
		ConsumerBacklogSizeGB: float64(ohBacklog) * ohSize / (1 << 30),
		BacklogDrainRatio:     1,
		TestDuration:          200 * time.Millisecond,
	}
	w.Default()
	w.WarmupDuration = 0
	sys := &pausingSystem{NATS: newSystem(tb), resume: make(chan struct{})}
	res := runHarness(tb, w, sys)
	rate, err := drainRate(res)
	if err != nil {
		tb.Fatal(err)
	}
	return measurement{rate: rate, cpuPerMs: float64(sys.drainCPU.Load()) / float64(time.Microsecond) / float64(sys.received.Load())}
}

func newSystem(tb testing.TB) *bbnats.NATS {
	tb.Helper()
	sys, err := bbnats.New(context.Background(), bbnats.Config{}.Default())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sys.Close() })
	return sys
}

// runHarness runs w on sys through the runner as the run command does
// (default sample interval, no history), logging warnings only.
func runHarness(tb testing.TB, w workloads.Workload, sys adapters.System) *results.Result {
	tb.Helper()
	if err := w.Validate(); err != nil {
		tb.Fatal(err)
	}
	rn, err := runner.New(runner.Logger(slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		tb.Fatal(err)
	}
	res, err := rn.Run(context.Background(), w, sys)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// drainRate is how fast a backlog run's consumers drained the backlog:
// messages drained from "backlog-built" (consumers about to start) to
// "backlog-drained".
func drainRate(res *results.Result) (float64, error) {
	var built, drained *results.Event
	for i, e := range res.Events {
		switch e.Kind {
		case "backlog-built":
			built = &res.Events[i]
		case "backlog-drained":
			drained = &res.Events[i]
		}
	}
	if built == nil || drained == nil {
		return 0, fmt.Errorf("run %s has no backlog-built and backlog-drained events", res.Workload)
	}
	var have, left int64
	if _, err := fmt.Sscanf(built.Detail, "%d messages", &have); err != nil {
		return 0, fmt.Errorf("read backlog-built %q: %w", built.Detail, err)
	}
	if _, err := fmt.Sscanf(drained.Detail, "%d messages left", &left); err != nil {
		return 0, fmt.Errorf("read backlog-drained %q: %w", drained.Detail, err)
	}
	return float64(have-left) / drained.Time.Sub(built.Time).Seconds(), nil
}

// pausingSystem is the adapter with the runner's producers held from the
// moment the first consumer is created (the runner creates consumers once
// the backlog is built) until the consumers have received everything
// acknowledged so far: the drain then measures catch-up reads alone. Sends
// in flight when it pauses complete normally. Everything else is the
// adapter's, so the runner finds the same optional interfaces.
type pausingSystem struct {
	*bbnats.NATS
	paused   atomic.Bool
	sent     atomic.Int64
	received atomic.Int64
	cpu0     atomic.Int64 // cpuClock when the drain started
	drainCPU atomic.Int64 // CPU time of the drain
	once     sync.Once
	resume   chan struct{}
}

func (s *pausingSystem) NewProducer(ctx context.Context, cfg adapters.ProducerConfig) (adapters.Producer, error) {
	p, err := s.NATS.NewProducer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &pausingProducer{Producer: p, s: s}, nil
}

func (s *pausingSystem) NewConsumer(ctx context.Context, cfg adapters.ConsumerConfig) (adapters.Consumer, error) {
	if !s.paused.Swap(true) {
		s.cpu0.Store(int64(cpuClock()))
	}
	// A send that failed is never received: resume after a while anyway,
	// or the runner's producers would never see their stop.
	time.AfterFunc(time.Minute, s.unpause)
	h := cfg.Handler
	cfg.Handler = func(d *adapters.Delivery) {
		h(d)
		if s.received.Add(1) >= s.sent.Load() {
			s.unpause()
		}
	}
	return s.NATS.NewConsumer(ctx, cfg)
}

// unpause ends the drain: it notes its CPU time and lets the producers go
// after resumeDelay, so that the runner's backlog check (every 50 ms) sees
// the drained backlog before new sends refill it; resuming at once made
// the check miss it and the run fail with "backlog drain made no
// progress".
func (s *pausingSystem) unpause() {
	s.once.Do(func() {
		s.drainCPU.Store(int64(cpuClock()) - s.cpu0.Load())
		time.AfterFunc(resumeDelay, func() { close(s.resume) })
	})
}

// resumeDelay is several of the runner's backlog checks, and shorter than
// the measured phase after the drain (200 ms), which must not end with
// producers still held.
const resumeDelay = 150 * time.Millisecond

type pausingProducer struct {
	adapters.Producer
	s *pausingSystem
}

func (p *pausingProducer) Send(ctx context.Context, m *adapters.Message, done func(adapters.SendResult, error)) {
	if p.s.paused.Load() {
		select {
		case <-p.s.resume:
		case <-ctx.Done():
		}
	}
	// Counted here rather than in done: wrapping done would cost the
	// harness a closure per send that the run command does not pay.
	p.s.sent.Add(1)
	p.Producer.Send(ctx, m, done)
}
