package distributed

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters/kafka"
	"github.com/brokerbench/brokerbench/refbroker"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// TestShardedRunnersInProcess runs two shards of one workload in this
// process (make test runs it under -race, also with -short: 5 seconds) against one refbroker, through real
// workers and a coordinator, and merges them: the runner's shard hooks
// (shared topics, global producer ids, the rendezvous, sequence sets) give
// exact merged counts.
func TestShardedRunnersInProcess(t *testing.T) {
	b := startRefbroker(t)
	file, err := workloads.Parse("w.yaml", []byte(`workloads:
  - name: shards
    partitionsPerTopic: 4
    producersPerTopic: 3
    consumerPerSubscription: 2
    producerRate: 400
    messageSize: 128
    warmup: 500ms
    duration: 1500ms
`))
	if err != nil {
		t.Fatal(err)
	}
	shardResults, rs := runShardsInProcess(t, b.Addr(), file.Workloads[0], 2)
	for i, r := range shardResults {
		if r == nil || r.Status != results.StatusOK || r.Counts.Sent == 0 {
			t.Fatalf("shard %d: %+v", i, r)
		}
	}
	m, err := Merge(rs, results.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	c := m.Counts
	if c.Sent == 0 || c.Acked != c.Sent || c.Received != c.Sent || c.Lost != 0 || c.Duplicates != 0 || !c.Drained {
		t.Errorf("merged counts %+v: want every sent message received once", c)
	}
	if got := shardResults[0].Counts.Sent + shardResults[1].Counts.Sent; got != c.Sent {
		t.Errorf("shards sent %d, merged %d", got, c.Sent)
	}
	// One shard runs 1 producer, the other 2 (workloads.Split): 1/3 and
	// 2/3 of the rate.
	if a, b := shardResults[0].Counts.Sent, shardResults[1].Counts.Sent; a == 0 || b < a {
		t.Errorf("shard 0 sent %d, shard 1 %d: want shard 1 (two producers) to send more", a, b)
	}
}

func startRefbroker(t *testing.T) *refbroker.Broker {
	t.Helper()
	b, err := refbroker.Start(t.Context(), refbroker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// runShardsInProcess runs w as n shards in this process against the
// refbroker at addr, through real workers and a coordinator, and returns
// each shard's result and what the coordinator collected.
func runShardsInProcess(t *testing.T, addr string, w workloads.Workload, n int) (shardResults, collected []*results.Result) {
	t.Helper()
	ctx := t.Context()
	ws, urls := startWorkers(t, n)
	var wg sync.WaitGroup
	shardResults = make([]*results.Result, n)
	for i, wk := range ws {
		wg.Go(func() {
			cfg := kafka.Config{}.Default()
			cfg.Name, cfg.Brokers = "refbroker", []string{addr}
			sys, err := kafka.New(ctx, cfg)
			if err != nil {
				wk.Finish(nil, err)
				return
			}
			defer sys.Close()
			rn, err := runner.New(runner.Logger(slog.New(slog.DiscardHandler)), runner.DrainTimeout(10*time.Second),
				runner.Shard(runner.ShardConfig{Segment: workloads.Segment{Index: i, Count: n}, RunID: "inproc", Barrier: wk}))
			if err != nil {
				wk.Finish(nil, err)
				return
			}
			res, err := rn.Run(wk.Context(), w, sys)
			shardResults[i] = res
			wk.Finish([]*results.Result{res}, err)
		})
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	rs, err := (&Coordinator{Workers: urls, StartDelay: 100 * time.Millisecond}).Drive(rctx)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return shardResults, rs
}

// TestShardedBacklogDrain runs a backlog workload as three shards: the
// shards' producers build the backlog together, the coordinator releases
// every shard's consumers at the instant the summed backlog reaches its
// size and ends the drain at the instant it falls to the floor, so the
// shards share both instants and the merged drain time and rate are the
// whole run's, as one machine would measure them.
func TestShardedBacklogDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("three shards build and drain a 5 MiB backlog; skipped in -short mode")
	}
	b := startRefbroker(t)
	file, err := workloads.Parse("w.yaml", []byte(`workloads:
  - name: backlog
    partitionsPerTopic: 3
    producersPerTopic: 3
    consumerPerSubscription: 3
    producerRate: 3000
    messageSize: 1024
    consumerBacklogSizeGB: 0.0048828125
    backlogDrainRatio: 1.0
    duration: 1s
`))
	if err != nil {
		t.Fatal(err)
	}
	w := file.Workloads[0]
	const want = 5 << 20 / 1024 // messages in the backlog
	shardResults, rs := runShardsInProcess(t, b.Addr(), w, 3)
	var sum results.BacklogPhase
	for i, r := range shardResults {
		if r == nil || r.Status != results.StatusOK || r.BacklogPhase == nil {
			t.Fatalf("shard %d: %+v", i, r)
		}
		bp, first := r.BacklogPhase, shardResults[0].BacklogPhase
		if !bp.Built.Equal(first.Built) || !bp.Drained.Equal(first.Drained) {
			t.Errorf("shard %d built %v drained %v, shard 0 %v %v: want the coordinator's instants", i, bp.Built, bp.Drained, first.Built, first.Drained)
		}
		sum.BuiltMessages += bp.BuiltMessages
		sum.LeftMessages += bp.LeftMessages
		sum.Consumed += bp.Consumed
	}
	m, err := Merge(rs, results.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	bp := m.BacklogPhase
	if bp == nil {
		t.Fatal("merged result has no backlog phase")
	}
	first := shardResults[0].BacklogPhase
	if !bp.Built.Equal(first.Built) || !bp.Drained.Equal(first.Drained) || bp.BuiltMessages != sum.BuiltMessages ||
		bp.LeftMessages != sum.LeftMessages || bp.Consumed != sum.Consumed {
		t.Errorf("merged backlog phase %+v, want the shards' instants and summed counts %+v", bp, sum)
	}
	if bp.BuiltMessages < want {
		t.Errorf("consumers started with %d messages in the backlog, want at least %d", bp.BuiltMessages, want)
	}
	if got := bp.DrainSeconds(); got <= 0 || got != bp.Drained.Sub(bp.Built).Seconds() {
		t.Errorf("drain time %vs, want drained - built > 0", got)
	}
	if got, want := bp.DrainRate(), float64(sum.Consumed)/bp.DrainSeconds(); got <= 0 || got != want {
		t.Errorf("drain rate %v msg/s, want the shards' consumed %d over the common drain time = %v", got, sum.Consumed, want)
	}
	// The backlog was drained from at least its size to the floor (1000
	// messages) while the producers kept sending.
	if bp.Consumed < want-1000 {
		t.Errorf("consumed %d during the drain, want at least %d", bp.Consumed, want-1000)
	}
	c := m.Counts
	if c.Sent == 0 || c.Acked != c.Sent || c.Received != c.Sent || c.Lost != 0 || c.Duplicates != 0 || !c.Drained {
		t.Errorf("merged counts %+v: want every sent message received once", c)
	}
	t.Logf("built %d messages, drained to %d in %.2fs at %.0f msg/s", bp.BuiltMessages, bp.LeftMessages, bp.DrainSeconds(), bp.DrainRate())
}
