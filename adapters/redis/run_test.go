package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/redis"
	"github.com/brokerbench/brokerbench/internal/overhead"
	"github.com/brokerbench/brokerbench/workloads"
)

// TestRunWarnsAboveMaxmemory runs a workload through the runner, as
// `brokerbench run` does, against a private server whose maxmemory cannot
// hold what the workload plans to publish: the result carries the
// adapter's memory warning, and the client settings it reports.
func TestRunWarnsAboveMaxmemory(t *testing.T) {
	t.Parallel()
	addr := redis.StartTestServer(t, "--maxmemory", "4mb")
	w := workloads.Workload{Name: "maxmemory", PartitionsPerTopic: 1, MessageSize: 1024}
	w.Default()
	w.ProducerRate = 20_000 // x 0.3 s = 6,000 entries of ~1.3 KB: about 8 MB
	w.WarmupDuration, w.TestDuration = 100*time.Millisecond, 200*time.Millisecond
	cfg := redis.Config{}.Default()
	cfg.Addrs = []string{addr}
	res := overhead.RunOn(t, w, func(ctx context.Context) (adapters.System, error) { return redis.New(ctx, cfg) })
	if !strings.Contains(strings.Join(res.Meta.Warnings, "\n"), "above maxmemory 4 MiB") {
		t.Errorf("warnings %q, want the maxmemory warning", res.Meta.Warnings)
	}
	var count string
	for _, s := range res.Meta.Client {
		if s.Name == "XREADGROUP COUNT" {
			count = s.Value
		}
	}
	if !strings.HasPrefix(count, "500 per partition") {
		t.Errorf("client settings %+v: XREADGROUP COUNT %q", res.Meta.Client, count)
	}
}
