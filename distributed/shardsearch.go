package distributed

import (
	"context"
	"fmt"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/suite"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// PointProbe is where a shard waits before each probe of a saturation
// search the coordinator runs, and once after the last: it hands over its
// result of the previous probe (GET /probe) and is released with the next
// step (POST /step).
const PointProbe = "probe"

// Searches returns the shard's side of the coordinator's searches
// (suite.Config.ShardSearch); runID is the run's, which each probe's own
// run id extends.
func (w *Worker) Searches(runID string) suite.ShardSearch {
	return shardSearch{w: w, runID: runID}
}

// RepeatShard returns the shard's runner option for each repetition of a
// run of several (suite.Config.ShardRepeat): repetition k runs as run
// <runID>-r<k>, with its own topics, which shard 0 creates and deletes, and
// its own rendezvous, as each search probe does (ProbeShard).
func (w *Worker) RepeatShard(runID string) func(k int) runner.Option {
	return func(k int) runner.Option {
		return runner.Shard(runner.ShardConfig{Segment: w.seg, RunID: fmt.Sprintf("%s-r%d", runID, k), Barrier: w})
	}
}

type shardSearch struct {
	w     *Worker
	runID string
}

// NextProbe implements suite.ShardSearch. A probe this shard could not
// run fails the shard, so the coordinator stops every shard with its
// reason: the others wait for it at a rendezvous it will not reach.
func (s shardSearch) NextProbe(ctx context.Context, at suite.SearchPoint, prev *results.Result) (suite.ProbeStep, error) {
	if prev != nil && prev.Status == results.StatusFailed {
		s.w.Fail(fmt.Sprintf("%s on %s: search probe %d: %s", prev.Workload, prev.Driver, at.Probes, prev.Explain()))
	}
	r, err := s.w.wait(ctx, PointProbe, nil, &at, prev)
	if err != nil {
		return suite.ProbeStep{}, fmt.Errorf("shard %s at %s: %w", s.w.seg, PointProbe, err)
	}
	return *r.step, nil
}

// ProbeShard implements suite.ShardSearch: probe n runs as run
// <runID>-p<n>, with its own topics, which shard 0 creates and deletes.
func (s shardSearch) ProbeShard(n int) runner.Option {
	return runner.Shard(runner.ShardConfig{Segment: s.w.seg, RunID: fmt.Sprintf("%s-p%d", s.runID, n), Barrier: s.w})
}
