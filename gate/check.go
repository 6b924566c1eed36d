package gate

import (
	"fmt"

	"github.com/brokerbench/brokerbench/results"
)

// Outcome is the result of one check.
type Outcome string

const (
	// Passed: the check held.
	Passed Outcome = "passed"
	// Failed: the check did not hold.
	Failed Outcome = "failed"
	// Skipped: the check does not apply (the system lacks a capability).
	Skipped Outcome = "skipped"
	// Unknown: the check could not be decided (no data, a checker timed
	// out). The gate treats it as a failure, never as a pass.
	Unknown Outcome = "unknown"
)

// Check is one (workload, system, check) outcome, one JUnit test case.
type Check struct {
	// Workload and System name the run.
	Workload, System string
	// Name names the check: "run", "threshold lost == 0", "checker log".
	Name string
	// Outcome of the check.
	Outcome Outcome
	// Message explains a failure, skip or unknown; for a threshold it
	// states the measured value.
	Message string
	// Seconds is the run's length, for JUnit's time attribute.
	Seconds float64
}

// OK reports whether the check lets the gate pass.
func (c Check) OK() bool { return c.Outcome == Passed || c.Outcome == Skipped }

// Policy says which run statuses pass the gate besides ok.
type Policy struct {
	// AllowDegraded lets a degraded run pass (its reasons are still in
	// the check's message); by default it fails, like a failed run.
	AllowDegraded bool

	_ struct{} // forces keyed literals so fields can be added
}

// Evaluate checks a result against its thresholds: first the run itself
// (ok passes; failed and interrupted fail; degraded fails unless p allows
// it; not-applicable is skipped along with its thresholds), then each
// threshold. Thresholds of a failed or interrupted run fail; those of a
// degraded run are evaluated on its figures.
func Evaluate(r *results.Result, ts []Threshold, p Policy) []Check {
	base := Check{Workload: r.Workload, System: r.Driver, Seconds: r.Meta.Finished.Sub(r.Meta.Started).Seconds()}
	run := base
	run.Name = "run"
	switch r.Status {
	case results.StatusOK:
		run.Outcome = Passed
	case results.StatusNotApplicable:
		run.Outcome, run.Message = Skipped, r.Error
	case results.StatusDegraded:
		run.Outcome, run.Message = Failed, "degraded: "+r.Explain()
		if p.AllowDegraded {
			run.Outcome, run.Message = Passed, "degraded (allowed): "+r.Explain()
		}
	default:
		run.Outcome, run.Message = Failed, string(r.Status)+": "+r.Explain()
	}
	out := []Check{run}
	if v := r.Verdict; v != nil {
		c := base
		c.Name = fmt.Sprintf("checker %s (%s)", v.Model, v.Guarantee)
		switch v.Valid {
		case "valid":
			c.Outcome, c.Message = Passed, "history valid"
		case "invalid":
			c.Outcome, c.Message = Failed, fmt.Sprintf("anomalies that fail under %s: %v (counts %v; see %s)", v.Guarantee, v.Failures, v.Anomalies, v.VerdictFile)
		default:
			c.Outcome, c.Message = Unknown, fmt.Sprintf("inconclusive: %v", v.Inconclusive)
		}
		out = append(out, c)
	}
	d := results.Derive(r)
	table := metricTable()
	for _, t := range ts {
		c := base
		c.Name = "threshold " + t.String()
		switch m := table[t.Metric]; {
		case r.Status == results.StatusNotApplicable:
			c.Outcome, c.Message = Skipped, r.Error
		case r.Status != results.StatusOK && r.Status != results.StatusDegraded:
			c.Outcome, c.Message = Failed, "the run is "+string(r.Status)+": "+r.Explain()
		default:
			v, ok := m.get(r, d)
			switch {
			case !ok:
				c.Outcome, c.Message = Unknown, fmt.Sprintf("%s was not measured in this run", t.Metric)
			case t.holds(v):
				c.Outcome, c.Message = Passed, fmt.Sprintf("%s = %g %s", t.Metric, v, m.unit)
			default:
				c.Outcome, c.Message = Failed, fmt.Sprintf("%s = %g %s, want %s %g", t.Metric, v, m.unit, t.Op, t.Value)
			}
		}
		out = append(out, c)
	}
	return out
}

// Pass reports whether every check lets the gate pass.
func Pass(checks []Check) bool {
	for _, c := range checks {
		if !c.OK() {
			return false
		}
	}
	return true
}
