package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/redis"
	"github.com/brokerbench/brokerbench/internal/overhead"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
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
// go-redis loop on the same private redis-server (no persistence, flushed
// before every measurement), alternating over rounds, medians reported
// (internal/overhead), per direction:
//
//   - publish: 1 KiB values to one stream at max rate, 1000 in flight. Raw:
//     pipelines of 1000 XADDs, one after the other. brokerbench: `run` at
//     producerRate 0 through the runner and the Redis adapter.
//   - consume: draining a backlog of 300,000 entries of one stream with
//     one consumer, XREADGROUP COUNT 500 (the adapter's default) and XACK
//     every second. Raw: a loop of XREADGROUP and a pipelined XACK per
//     second. brokerbench: the runner's backlog phase with its producers
//     paused during the drain (overhead.DrainWorkload), so nothing is
//     published while the backlog drains, as in the raw loop; the drain is
//     timed from the runner's backlog-built to its backlog-drained.
//
// Ratios (brokerbench / raw) at or above 0.9 are the target
// (docs/performance.md, "Harness overhead").
func BenchmarkHarnessOverheadRedis(b *testing.B) {
	addr := redis.StartTestServer(b)
	fresh := func(tb testing.TB) (string, func()) {
		flush(tb, addr)
		return addr, func() {}
	}
	for _, dir := range []struct {
		name         string
		raw, harness func(tb testing.TB, addr string) overhead.Window
	}{
		{"publish", rawPublish, harnessPublish},
		{"consume", rawConsume, harnessConsume},
	} {
		b.Run(dir.name, func(b *testing.B) {
			var r overhead.Rates
			for b.Loop() {
				r = overhead.Compare(b, overhead.Rounds(ohRounds), fresh, dir.raw, dir.harness)
			}
			r.Report(b, "go-redis")
		})
	}
}

// flush empties the private server between windows, so that neither side
// pays for the other's memory.
func flush(tb testing.TB, addr string) {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		tb.Fatal(err)
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
func rawPublish(_ testing.TB, addr string) overhead.Window {
	c := rawClient(addr)
	defer c.Close()
	ctx, value, acked := context.Background(), payload(), 0
	start := time.Now()
	for time.Since(start) < ohWindow {
		acked += xaddPipeline(ctx, c, "raw-publish", value, ohInFlight)
	}
	return overhead.Window{Messages: int64(acked), Start: start, End: time.Now()}
}

// rawConsume builds the backlog (not timed), then drains it with one
// XREADGROUP loop, XACKing every ohCommit.
func rawConsume(b testing.TB, addr string) overhead.Window {
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
	start := time.Now()
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
	w := overhead.Window{Messages: int64(received), Start: start, End: time.Now()}
	if bytes != received*ohSize {
		b.Fatalf("read %d bytes in %d entries", bytes, received)
	}
	return w
}

// runHarness runs w through the runner on a Redis adapter of its own,
// as `brokerbench run` does, and checks nothing was lost or duplicated.
func runHarness(tb testing.TB, addr string, w workloads.Workload) *results.Result {
	cfg := redis.Config{}.Default()
	cfg.Addrs = []string{addr}
	res := overhead.RunOn(tb, w, func(ctx context.Context) (adapters.System, error) { return redis.New(ctx, cfg) })
	if res.Counts.Lost != 0 || res.Counts.Duplicates != 0 {
		tb.Fatalf("brokerbench %s: %d lost, %d duplicates", w.Name, res.Counts.Lost, res.Counts.Duplicates)
	}
	return res
}

// harnessPublish runs the publish load through the runner.
func harnessPublish(tb testing.TB, addr string) overhead.Window {
	win, err := overhead.PublishWindow(runHarness(tb, addr, overhead.PublishWorkload(ohSize, ohInFlight, ohWindow)))
	if err != nil {
		tb.Fatal(err)
	}
	return win
}

// harnessConsume runs a backlog workload through the runner, its
// producers paused while the consumer drains, and returns the drain.
func harnessConsume(tb testing.TB, addr string) overhead.Window {
	w := overhead.DrainWorkload(ohSize, ohBacklog)
	w.Delivery.MaxInFlight = ohInFlight
	w.Delivery.CommitInterval = ohCommit
	win, err := overhead.DrainWindow(runHarness(tb, addr, w))
	if err != nil {
		tb.Fatal(err)
	}
	return win
}
