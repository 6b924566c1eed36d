package suite

import (
	"fmt"

	"github.com/brokerbench/brokerbench/gate"
	"github.com/brokerbench/brokerbench/results"
)

// repetitions is how many times each (workload, system) runs.
func (c *Config) repetitions() int { return max(c.Repeat, 1) }

// round returns h for repetition k of n: its histories and results are
// named after the repetition when n > 1.
func (h historyFiles) round(k, n int) historyFiles {
	h.rep = nil
	if n > 1 {
		h.rep = &results.Repeat{Index: k, Of: n}
	}
	return h
}

// annotate adds what the suite knows about a finished run before it is
// written: its place among the repetitions and whether its measured
// phase was steady.
func (h historyFiles) annotate(res *results.Result) {
	if h.rep != nil {
		rep := *h.rep
		res.Repeat = &rep
	}
	// A search's result is a probe, judged by its objective, not by the
	// steadiness of a run; one machine's search records none either.
	if res.Status != results.StatusNotApplicable && res.Capacity == nil {
		res.Steadiness = results.CheckSteadiness(res)
	}
}

// summarizeRepeats gives every repetition's result the summary of its
// (workload, system) once all have run, and writes it again, so each
// file carries the mean and confidence interval of its group.
func summarizeRepeats(dir string, rs []*results.Result) error {
	for _, g := range results.Groups(rs) {
		if _, of := g.Runs[0].Repetition(); of < 2 {
			continue
		}
		files, sum := g.Summary()
		for _, r := range g.Runs {
			r.Repeat.Files, r.Repeat.Summary = files, sum
			if _, err := results.Write(dir, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// nameChecks adds the repetition to the names of the gate checks of its
// runs, so that the gate's lines and JUnit test cases of one (workload,
// system) stay apart.
func (h historyFiles) nameChecks(cs []gate.Check) {
	if h.rep == nil {
		return
	}
	for i := range cs {
		cs[i].Name += fmt.Sprintf(" (repetition %d of %d)", h.rep.Index, h.rep.Of)
	}
}
