package suite

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/brokerbench/brokerbench/checkers"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
)

// historyFiles names and opens the history of each run in the results
// folder, next to its result file: <workload>.<system>.history.jsonl, or
// <workload>.<system>.rep<k>.history.jsonl for repetition k.
type historyFiles struct {
	out string
	all bool            // --history: every run records one
	rep *results.Repeat // the repetition being run; nil for a single run
}

func (h historyFiles) base(workload, system string) string {
	return strings.TrimSuffix(h.rep.FileName(workload, system), ".json")
}

// opener is the runner's History option: a file for runs that record a
// history, nil for the others.
func (h historyFiles) opener(runs []workloads.Workload) func(workload, system string) (io.WriteCloser, error) {
	want := map[string]bool{}
	for _, w := range runs {
		// A run with faults always records its history: the point of
		// breaking things is to check what survived.
		want[w.Name] = h.all || w.History || w.Chaos != nil
	}
	return func(workload, system string) (io.WriteCloser, error) {
		if !want[workload] {
			return nil, nil
		}
		if err := os.MkdirAll(h.out, 0o755); err != nil {
			return nil, err
		}
		return os.Create(filepath.Join(h.out, h.base(workload, system)+".history.jsonl"))
	}
}

// check checks the run's history, if it recorded one, writes the full
// verdict next to it and puts its summary into res.
func (h historyFiles) check(ctx context.Context, res *results.Result) error {
	base := h.base(res.Workload, res.Driver)
	path := filepath.Join(h.out, base+".history.jsonl")
	if _, err := os.Stat(path); err != nil {
		return nil // this run recorded no history
	}
	v, err := checkers.CheckFile(ctx, path, checkers.Config{VisualizationDir: h.out})
	if err != nil {
		return fmt.Errorf("check history %s: %w", path, err)
	}
	vf := base + ".verdict.json"
	f, err := os.Create(filepath.Join(h.out, vf))
	if err != nil {
		return err
	}
	if err := v.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	res.Verdict = summarize(v, base+".history.jsonl", vf, h.out)
	return nil
}

func summarize(v *checkers.Verdict, history, verdictFile, dir string) *results.Verdict {
	rv := &results.Verdict{
		Valid: v.Valid.String(), Model: v.Model, Guarantee: v.Guarantee,
		Anomalies: map[string]int{}, Failures: v.Failures,
		History: history, VerdictFile: verdictFile,
	}
	for name, a := range v.Anomalies {
		rv.Anomalies[name] = a.Count
	}
	for _, i := range v.Inconclusive {
		rv.Inconclusive = append(rv.Inconclusive, fmt.Sprintf("%s %s: %s", i.Check, i.Key, i.Reason))
	}
	for _, p := range v.Visualizations {
		if rel, err := filepath.Rel(dir, p); err == nil {
			p = rel
		}
		rv.Visualizations = append(rv.Visualizations, p)
	}
	return rv
}
