package suite

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/capacity"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// ShardSearch is a shard's side of the saturation searches the
// coordinator of a distributed run runs ([Search] over merged shards;
// docs/distributed.md): the coordinator picks every probe's rate and the
// shard runs its share of each probe. Package distributed implements it.
type ShardSearch interface {
	// NextProbe hands the coordinator this shard's result of the
	// search's previous probe (nil before the first) and waits for the
	// next step.
	NextProbe(ctx context.Context, at SearchPoint, prev *results.Result) (ProbeStep, error)
	// ProbeShard is the runner option that makes probe n (numbered by
	// the coordinator over the whole run) a sharded run of its own, with
	// its own topics, as every probe on one machine is.
	ProbeShard(n int) runner.Option
}

// SearchPoint says which search a shard waits in, and how many of its
// probes it has run: the coordinator checks that every shard agrees.
type SearchPoint struct {
	Workload string `json:"workload"`
	System   string `json:"system"`
	Probes   int    `json:"probes"`
}

// ProbeStep is the coordinator's next step of a search: a probe to run
// (Rate, Probe, Warmup, N), or, when Done, the end of the search.
type ProbeStep struct {
	// Rate is the probe's offered rate over all shards, msg/s; each shard
	// offers its share (workloads.Split).
	Rate float64 `json:"rate,omitempty"`
	// Probe and Warmup are the probe's measured and warm-up lengths (in
	// JSON, nanoseconds): the coordinator's, so every shard measures alike.
	Probe  time.Duration `json:"probe,omitempty"`
	Warmup time.Duration `json:"warmup,omitempty"`
	// N numbers the probe over the whole distributed run ([ShardSearch.ProbeShard]).
	N int `json:"n"`
	// Done ends the search: the shard's result is its result of probe
	// Keep (0-based, in the order of this search's probes) with the search
	// Record, as one machine's search keeps the probe it judged by.
	Done   bool             `json:"done,omitempty"`
	Keep   int              `json:"keep,omitempty"`
	Record *capacity.Record `json:"record,omitempty"`
}

// followSearch runs this shard's part of the search of w that the
// coordinator runs (cfg.ShardSearch): each probe at the rate it is given,
// each handed back, then writes the probe the coordinator keeps, with the
// search record, as this shard's result.
func followSearch(ctx context.Context, cfg *Config, opts []runner.Option, w workloads.Workload, name string, sys adapters.System, hist historyFiles, out *Outcome) error {
	if cfg.OnStart != nil {
		cfg.OnStart(w, name)
	}
	var probes []*results.Result
	var prev *results.Result
	for {
		step, err := cfg.ShardSearch.NextProbe(ctx, SearchPoint{Workload: w.Name, System: name, Probes: len(probes)}, prev)
		if err != nil {
			return fmt.Errorf("search of %s on %s: %w", w.Name, name, err)
		}
		if step.Done {
			if step.Keep < 0 || step.Keep >= len(probes) || step.Record == nil {
				return fmt.Errorf("search of %s on %s: the coordinator kept probe %d of %d (record %v)", w.Name, name, step.Keep, len(probes), step.Record != nil)
			}
			res := probes[step.Keep]
			res.Capacity = step.Record
			return writeSearch(cfg, w, res, hist, out)
		}
		popts := append(append(slices.Clip(opts), probeOptions(step.Probe, step.Warmup)...), cfg.ShardSearch.ProbeShard(step.N))
		rn, err := runner.New(popts...)
		if err != nil {
			return usage(err)
		}
		pw := w
		pw.ProducerRate = step.Rate
		prev, err = rn.Run(ctx, pw, sys)
		if err != nil {
			cfg.Logger.Warn("probe run failed", "workload", w.Name, "rate", step.Rate, "err", err)
		}
		probes = append(probes, prev)
	}
}
