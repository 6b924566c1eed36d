package redis_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/redis"
	"github.com/brokerbench/brokerbench/internal/overhead"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// Settings both sides of BenchmarkHarnessOverheadRedis use.
const (
	ohSize     = 1024            // bytes per message
	ohInFlight = 1000            // sends outstanding at most
	ohWindow   = 3 * time.Second // publish window
	ohBacklog  = 300_000         // entries drained by the consume side
	ohFloor    = 1000            // entries left when the drain counts as done (the runner's floor)
	ohRounds   = 5
	ohCount    = redis.DefaultCountPerPartition
	ohCommit   = time.Second // XACK cadence (delivery.commitInterval's default)
)

// BenchmarkHarnessOverheadRedis compares brokerbench with a minimal raw
// go-redis loop on the same private redis-server (no persistence), in the
// same run, alternating over rounds, medians reported, per direction:
//
//   - publish: 1 KiB values to one stream at max rate, 1000 in flight. Raw:
//     pipelines of 1000 XADDs, one after the other. brokerbench: `run` at
//     producerRate 0 through the runner and the Redis adapter.
//   - consume: draining a backlog of 300,000 entries of one stream with
//     one consumer, XREADGROUP COUNT 500 (the adapter's default) and XACK
//     every second. Raw: a loop of XREADGROUP and a pipelined XACK per
//     second. brokerbench: the runner's backlog phase
//     (consumerBacklogSizeGB), whose producers build the backlog; the drain
//     rate is the backlog drained between the runner's backlog-built and
//     backlog-drained events. So that the runner's producers do not publish
//     during the drain (the raw loop has none), its producers are gated:
//     once they have sent the backlog, sends fail at once after 1 ms.
//
// Ratios (brokerbench / raw) at or above 0.9 are the target
// (docs/performance.md, "Harness overhead").
func BenchmarkHarnessOverheadRedis(b *testing.B) {
	addr := redis.StartTestServer(b)
	for _, dir := range []struct {
		name         string
		raw, harness func(b *testing.B, addr string) window
	}{
		{"publish", rawPublish, harnessPublish},
		{"consume", rawConsume, harnessConsume},
	} {
		b.Run(dir.name, func(b *testing.B) {
			var raw, harness, rawCPU, harnessCPU float64
			for b.Loop() {
				var raws, harnesses []window
				for i := range overhead.Rounds(ohRounds) {
					flush(b, addr)
					if i%2 == 0 {
						raws = append(raws, dir.raw(b, addr))
						flush(b, addr)
						harnesses = append(harnesses, dir.harness(b, addr))
					} else {
						harnesses = append(harnesses, dir.harness(b, addr))
						flush(b, addr)
						raws = append(raws, dir.raw(b, addr))
					}
				}
				b.Logf("%s rounds (msg/s, client CPU us/msg): go-redis %v, brokerbench %v", dir.name, raws, harnesses)
				rate := func(w window) float64 { return w.rate }
				cpu := func(w window) float64 { return w.cpuPerMsg }
				raw, harness = median(raws, rate), median(harnesses, rate)
				rawCPU, harnessCPU = median(raws, cpu), median(harnesses, cpu)
			}
			b.ReportMetric(raw, "go-redis-msg/s")
			b.ReportMetric(harness, "brokerbench-msg/s")
			b.ReportMetric(harness/raw, "ratio")
			b.ReportMetric(rawCPU/harnessCPU, "cpu-ratio")
			b.Logf("%s: go-redis loop %.0f msg/s, brokerbench %.0f msg/s, ratio %.2f; client CPU %.2f vs %.2f us/msg, ratio %.2f",
				dir.name, raw, harness, harness/raw, rawCPU, harnessCPU, rawCPU/harnessCPU)
		})
	}
}

// window is one side's measurement: its rate and the CPU time this
// process (the client: loop, or runner and adapter) spent per message.
// The CPU figure is the steadier one on a loaded machine, where the rate
// depends on how much of the cores other processes take.
type window struct {
	rate      float64 // msg/s
	cpuPerMsg float64 // microseconds
}

func (w window) String() string { return fmt.Sprintf("%.0f/%.2f", w.rate, w.cpuPerMsg) }

func newWindow(n int64, d, cpu time.Duration) window {
	return window{rate: float64(n) / d.Seconds(), cpuPerMsg: float64(cpu.Microseconds()) / float64(n)}
}

// processCPU is the user plus system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuClock samples processCPU every few milliseconds while a run goes
// on, so the CPU spent between two of the run's events can be read
// afterwards.
type cpuClock struct {
	stop    chan struct{}
	done    chan struct{}
	samples []cpuSample
}

type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

func startCPUClock() *cpuClock {
	c := &cpuClock{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			c.samples = append(c.samples, cpuSample{time.Now(), processCPU()})
			select {
			case <-t.C:
			case <-c.stop:
				return
			}
		}
	}()
	return c
}

func (c *cpuClock) halt() { close(c.stop); <-c.done }

// at is the CPU time at the first sample at or after t.
func (c *cpuClock) at(t time.Time) time.Duration {
	for _, s := range c.samples {
		if !s.at.Before(t) {
			return s.cpu
		}
	}
	return c.samples[len(c.samples)-1].cpu
}

// flush empties the private server between windows, so that neither side
// pays for the other's memory.
func flush(b *testing.B, addr string) {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
}

func payload() []byte {
	v := make([]byte, ohSize)
	for i := range v {
		v[i] = byte(i*7919 + i>>3)
	}
	return v
}

func rawClient(addr string) *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, PoolSize: 2})
}

// xaddPipeline sends n XADDs of value to stream in one pipeline and
// returns how many succeeded.
func xaddPipeline(ctx context.Context, c *goredis.Client, stream string, value []byte, n int) int {
	pipe := c.Pipeline()
	cmds := make([]*goredis.StringCmd, n)
	for i := range cmds {
		cmds[i] = pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"v", value}})
	}
	_, _ = pipe.Exec(ctx)
	ok := 0
	for _, cmd := range cmds {
		if cmd.Err() == nil {
			ok++
		}
	}
	return ok
}

// rawPublish is the baseline: pipelines of ohInFlight XADDs back to back.
func rawPublish(b *testing.B, addr string) window {
	c := rawClient(addr)
	defer c.Close()
	ctx, value, acked := context.Background(), payload(), 0
	start, cpu := time.Now(), processCPU()
	for time.Since(start) < ohWindow {
		acked += xaddPipeline(ctx, c, "raw-publish", value, ohInFlight)
	}
	return newWindow(int64(acked), time.Since(start), processCPU()-cpu)
}

// rawConsume builds the backlog (not timed), then drains it with one
// XREADGROUP loop, XACKing every ohCommit.
func rawConsume(b *testing.B, addr string) window {
	c := rawClient(addr)
	defer c.Close()
	ctx, value := context.Background(), payload()
	const stream, group = "raw-consume", "g"
	for built := 0; built < ohBacklog; {
		built += xaddPipeline(ctx, c, stream, value, min(ohInFlight, ohBacklog-built))
	}
	if err := c.XGroupCreate(ctx, stream, group, "0").Err(); err != nil {
		b.Fatal(err)
	}
	var ids []string
	var bytes int
	received, lastAck := 0, time.Now()
	start, cpu := time.Now(), processCPU()
	for received < ohBacklog-ohFloor {
		res, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}, Count: ohCount, Block: 500 * time.Millisecond}).Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range res {
			for _, m := range s.Messages {
				v, _ := m.Values["v"].(string)
				bytes += len(v)
				ids = append(ids, m.ID)
			}
			received += len(s.Messages)
		}
		if time.Since(lastAck) >= ohCommit {
			if err := c.XAck(ctx, stream, group, ids...).Err(); err != nil {
				b.Fatal(err)
			}
			ids, lastAck = ids[:0], time.Now()
		}
	}
	w := newWindow(int64(received), time.Since(start), processCPU()-cpu)
	if bytes != received*ohSize {
		b.Fatalf("read %d bytes in %d entries", bytes, received)
	}
	return w
}

func newSystem(b testing.TB, addr string) *redis.Redis {
	cfg := redis.Config{}.Default()
	cfg.Addrs = []string{addr}
	sys, err := redis.New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return sys
}

func overheadWorkload(name string) workloads.Workload {
	w := workloads.Workload{Name: name, PartitionsPerTopic: 1, MessageSize: ohSize}
	w.Default()
	w.ProducerRate = 0
	w.Delivery.MaxInFlight = ohInFlight
	w.Delivery.CommitInterval = ohCommit
	return w
}

func quietRunner(b testing.TB) *runner.Runner {
	rn, err := runner.New(runner.Logger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	return rn
}

// harnessPublish runs the publish load through the runner, as `brokerbench
// run` does.
func harnessPublish(b *testing.B, addr string) window {
	w := overheadWorkload("overhead-publish")
	w.SubscriptionsPerTopic = 0
	w.WarmupDuration, w.TestDuration = 0, ohWindow
	sys := newSystem(b, addr)
	defer sys.Close()
	res, clock := runClocked(b, w, sys)
	_, from := event(b, res, "measure-start")
	_, to := event(b, res, "producers-stopped")
	return newWindow(res.Counts.Acked, time.Duration(res.Meta.MeasuredSeconds*float64(time.Second)), clock.at(to)-clock.at(from))
}

// runClocked runs w on sys through the runner, sampling the process's CPU
// time meanwhile.
func runClocked(b *testing.B, w workloads.Workload, sys adapters.System) (*results.Result, *cpuClock) {
	clock := startCPUClock()
	res, err := quietRunner(b).Run(context.Background(), w, sys)
	clock.halt()
	if err != nil {
		b.Fatal(err)
	}
	return res, clock
}

// harnessConsume runs a backlog workload through the runner and returns
// the rate of its backlog drain.
func harnessConsume(b *testing.B, addr string) window {
	w := overheadWorkload("overhead-consume")
	w.ConsumerBacklogSizeGB = float64(ohBacklog*ohSize) / (1 << 30)
	w.WarmupDuration, w.TestDuration = 0, 100*time.Millisecond
	sys := &gatedSystem{Redis: newSystem(b, addr), limit: ohBacklog + ohInFlight}
	defer sys.Close()
	res, clock := runClocked(b, w, sys)
	built, tb := event(b, res, "backlog-built")
	left, td := event(b, res, "backlog-drained")
	if res.Counts.Lost != 0 || res.Counts.Duplicates != 0 {
		b.Fatalf("brokerbench consume: %d lost, %d duplicates", res.Counts.Lost, res.Counts.Duplicates)
	}
	return newWindow(built-left, td.Sub(tb), clock.at(td)-clock.at(tb))
}

// event finds the runner's event kind and the message count in its
// detail, if any ("N messages" or "N messages left").
func event(b *testing.B, res *results.Result, kind string) (int64, time.Time) {
	for _, e := range res.Events {
		if e.Kind == kind {
			if e.Detail == "" {
				return 0, e.Time
			}
			n, err := strconv.ParseInt(strings.Fields(e.Detail)[0], 10, 64)
			if err != nil {
				b.Fatalf("event %s detail %q: %v", kind, e.Detail, err)
			}
			return n, e.Time
		}
	}
	b.Fatalf("no %s event in %d events", kind, len(res.Events))
	return 0, time.Time{}
}

// gatedSystem is the Redis adapter whose producers stop publishing once
// they have sent limit messages: sends then fail after a millisecond, so
// the runner's producers idle during the backlog drain.
type gatedSystem struct {
	*redis.Redis
	limit int64
	sent  atomic.Int64
}

var errGated = errors.New("gated: the backlog is built")

func (g *gatedSystem) NewProducer(ctx context.Context, cfg adapters.ProducerConfig) (adapters.Producer, error) {
	p, err := g.Redis.NewProducer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &gatedProducer{Producer: p, g: g}, nil
}

type gatedProducer struct {
	adapters.Producer
	g *gatedSystem
}

func (p *gatedProducer) Send(ctx context.Context, m *adapters.Message, done func(adapters.SendResult, error)) {
	if p.g.sent.Add(1) > p.g.limit {
		time.Sleep(time.Millisecond)
		done(adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send: %w", errGated))
		return
	}
	p.Producer.Send(ctx, m, done)
}

func median(ws []window, f func(window) float64) float64 {
	var s []float64
	for _, w := range ws {
		s = append(s, f(w))
	}
	slices.Sort(s)
	return s[len(s)/2]
}
