package distributed

import (
	"errors"
	"fmt"
	"os"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/suite"
)

// MergeDirs reads the shard results in dirs (one folder per worker, or
// folders holding several workers' files), merges each run's shards with
// [Merge] and each run's shard histories with [MergeHistories] into out,
// and returns the merged results in the order their runs first appear.
// Files of results that are not shards' are an error: they cannot be
// merged.
func MergeDirs(dirs []string, out string, l results.Limits) ([]*results.Result, error) {
	var shards []Located
	for _, dir := range dirs {
		rs, _, err := results.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		if len(rs) == 0 {
			return nil, fmt.Errorf("merge: no result files in %s", dir)
		}
		for _, r := range rs {
			if r.Shard == nil {
				return nil, fmt.Errorf("merge: %s holds the result of %s on %s, which is not a shard's (written without --shard)", dir, r.Workload, r.Driver)
			}
			shards = append(shards, Located{r, dir})
		}
	}
	return MergeAll(shards, out, l)
}

// Located is a shard's result and the folder its history is in ("" when
// it is not at hand, as for results fetched from remote workers).
type Located struct {
	Result *results.Result
	Dir    string
}

// MergeAll groups shard results by run (and repetition: each has its own
// run id, and its results are never merged with another's), merges each
// group, writes each run's merged history into out when every shard's
// history is at hand, and returns the merged results in the order their
// runs first appear.
func MergeAll(shards []Located, out string, l results.Limits) ([]*results.Result, error) {
	type key struct {
		run, workload, driver string
		rep                   int
	}
	type member struct {
		res *results.Result
		dir string
	}
	groups := map[key][]member{}
	var order []key
	for _, l := range shards {
		r := l.Result
		if r.Shard == nil {
			return nil, fmt.Errorf("merge: the result of %s on %s is not a shard's", r.Workload, r.Driver)
		}
		rep, _ := r.Repetition()
		k := key{r.Shard.RunID, r.Workload, r.Driver, rep}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], member{r, l.Dir})
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("merge: create %s: %w", out, err)
	}
	var merged []*results.Result
	for _, k := range order {
		ms := groups[k]
		rs := make([]*results.Result, len(ms))
		var hs []ShardHistory
		for i, m := range ms {
			rs[i] = m.res
			p := suite.HistoryPath(m.dir, m.res)
			if _, err := os.Stat(p); m.dir != "" && err == nil {
				hs = append(hs, ShardHistory{Shard: m.res.Shard.Index, Path: p, Epoch: m.res.Shard.Epoch})
			}
		}
		res, err := Merge(rs, l)
		if err != nil {
			return nil, err
		}
		switch {
		case len(hs) == len(ms):
			if err := writeMergedHistory(suite.HistoryPath(out, res), hs); err != nil {
				return nil, err
			}
		case len(hs) > 0:
			res.Meta.Warnings = append(res.Meta.Warnings, fmt.Sprintf("only %d of %d shards recorded a history: no merged history", len(hs), len(ms)))
		}
		merged = append(merged, res)
	}
	return merged, nil
}

func writeMergedHistory(path string, hs []ShardHistory) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("merge histories: %w", err)
	}
	return errors.Join(MergeHistories(f, hs), f.Close())
}
