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
	ctx := t.Context()
	b, err := refbroker.Start(ctx, refbroker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
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
	w := file.Workloads[0]
	ws, urls := startWorkers(t, 2)
	var wg sync.WaitGroup
	shardResults := make([]*results.Result, 2)
	for i, wk := range ws {
		wg.Go(func() {
			cfg := kafka.Config{}.Default()
			cfg.Name, cfg.Brokers = "refbroker", []string{b.Addr()}
			sys, err := kafka.New(ctx, cfg)
			if err != nil {
				wk.Finish(nil, err)
				return
			}
			defer sys.Close()
			rn, err := runner.New(runner.Logger(slog.New(slog.DiscardHandler)), runner.DrainTimeout(10*time.Second),
				runner.Shard(runner.ShardConfig{Segment: workloads.Segment{Index: i, Count: 2}, RunID: "inproc", Barrier: wk}))
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
