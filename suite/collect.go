package suite

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
)

// Collect records results produced elsewhere, the merged shards of a
// distributed run (package distributed), as Run records its own: each
// result's history (at [HistoryPath], if there is one) is checked, the
// result is written to cfg.Out and the thresholds of its workload (from
// cfg.Workloads) are evaluated; then the report and JUnit file are written.
//
// Results of repetitions (their Repeat set, run --repeat N on the shards)
// are recorded as Run records its repetitions: each under its
// repetition's file and history names, its gate checks named after the
// repetition, and, once all are recorded, each carrying its group's
// summary. rs must hold each group's repetitions in repetition order.
func Collect(ctx context.Context, cfg Config, rs []*results.Result) (*Outcome, error) {
	cfg.defaults()
	byName := map[string]workloads.Workload{}
	for _, w := range cfg.Workloads {
		for _, e := range w.Expand() {
			byName[e.Name] = e
		}
	}
	out := &Outcome{Out: cfg.Out, gate: cfg.Gate}
	for _, res := range rs {
		w, ok := byName[res.Workload]
		if !ok {
			return out, fmt.Errorf("collect: a result of workload %q, which is not among the selected workloads", res.Workload)
		}
		hist := historyFiles{out: cfg.Out}.round(res.Repetition())
		hist.annotate(res)
		checked := len(out.Checks)
		if err := record(ctx, &cfg, w, res, hist, out); err != nil {
			return out, err
		}
		hist.nameChecks(out.Checks[checked:])
	}
	if err := summarizeRepeats(cfg.Out, out.Results); err != nil {
		return out, err
	}
	return out, finish(ctx, &cfg, out)
}

// HistoryPath is where the history of run r (its workload, system and
// repetition) lives in the results folder out.
func HistoryPath(out string, r *results.Result) string {
	return filepath.Join(out, historyFiles{out: out}.round(r.Repetition()).base(r.Workload, r.Driver)+".history.jsonl")
}
