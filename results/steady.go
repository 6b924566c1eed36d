package results

import (
	"fmt"
	"math"
	"strings"

	"github.com/brokerbench/brokerbench/stats"
)

// Steadiness says whether the measured phase ran at one level: a trend
// (the system slowing down, a backlog building) or a change point (a
// stall, a compaction, a rebalance) makes its mean rate describe no
// moment of the run. The rule is in [CheckSteadiness].
type Steadiness struct {
	// Checked is false when the measured phase had too few samples to
	// judge ([MinSteadySamples]) or moves by design (Skipped says why);
	// Unsteady is then false too.
	Checked bool `json:"checked"`
	// Skipped says why a run with enough samples was not checked.
	Skipped string `json:"skipped,omitempty"`
	// Unsteady is true when a rate's second half differed significantly
	// and by more than [SteadyTolerance] from its first half.
	Unsteady bool `json:"unsteady"`
	// Rates has one comparison per rate checked ("publishRate",
	// "consumeRate"): the second half's per-sample rates against the
	// first half's.
	Rates []RateShift `json:"rates,omitempty"`
	// Reason is a sentence saying what moved; empty when steady.
	Reason string `json:"reason,omitempty"`
}

// RateShift compares the two halves of one rate's measured samples.
type RateShift struct {
	Rate string `json:"rate"`
	// Shift is second half / first half with its interval and p-value.
	Shift stats.Ratio `json:"shift"`
	// Unsteady is this rate's verdict.
	Unsteady bool `json:"unsteady"`
}

const (
	// MinSteadySamples is the fewest measured samples a steadiness check
	// needs: 4 a half is the least with which the U test can reach
	// p < 0.05.
	MinSteadySamples = 8
	// SteadyTolerance is the relative change between halves below which a
	// significant shift is still called steady: per-second samples are
	// autocorrelated, so the U test alone finds tiny, harmless drifts.
	SteadyTolerance = 0.10
)

// CheckSteadiness checks r's measured publish and consume rates for a
// trend or change point: it compares the per-sample rates of the second
// half of the measured phase with those of the first half (Mann-Whitney U
// test and Hodges-Lehmann ratio, [stats.CompareRatio]). A linear trend or
// a level shift anywhere but at the very ends moves one half against the
// other. A rate is unsteady when the shift is significant and the ratio
// is outside 1 ± [SteadyTolerance]. Rates that are zero throughout (no
// consumers) are not checked. Backlog build and drain phases, where the
// rates move by design, are left out, and so are whole runs that inject
// faults or consumer churn: their dips are what they measure.
func CheckSteadiness(r *Result) *Steadiness {
	var pub, cons []float64
	for _, s := range r.Samples {
		if s.Measured() && s.Phase == "" {
			pub = append(pub, s.PublishRate)
			cons = append(cons, s.ConsumeRate)
		}
	}
	st := &Steadiness{}
	if len(pub) < MinSteadySamples {
		return st
	}
	if k := disturbance(r); k != "" {
		st.Skipped = "rates move by design: the run has " + k + " events"
		return st
	}
	st.Checked = true
	for _, c := range []struct {
		name   string
		series []float64
	}{{"publishRate", pub}, {"consumeRate", cons}} {
		if allZero(c.series) {
			continue
		}
		half := len(c.series) / 2
		// The middle sample of an odd count belongs to neither half.
		shift := stats.CompareRatio(c.series[len(c.series)-half:], c.series[:half])
		bad := shift.Significant && math.Abs(shift.Ratio-1) > SteadyTolerance
		st.Rates = append(st.Rates, RateShift{Rate: c.name, Shift: shift, Unsteady: bad})
		if bad {
			st.Unsteady = true
			if st.Reason != "" {
				st.Reason += "; "
			}
			st.Reason += fmt.Sprintf("%s in the second half of the measured phase is %.2fx the first half (p=%.3f)", c.name, shift.Ratio, shift.P)
		}
	}
	return st
}

// disturbance names the first event kind by which the workload disturbs
// its own rates (faults, consumers leaving or joining); "" for none.
func disturbance(r *Result) string {
	for _, e := range r.Events {
		switch {
		case strings.HasPrefix(e.Kind, "fault"), strings.HasPrefix(e.Kind, "consumer-"):
			return e.Kind
		}
	}
	return ""
}

func allZero(vs []float64) bool {
	for _, v := range vs {
		if v != 0 {
			return false
		}
	}
	return true
}

// UnsteadyNote is a sentence for reports and summaries; "" when r is
// steady or was not checked.
func (r *Result) UnsteadyNote() string {
	if r.Steadiness == nil || !r.Steadiness.Unsteady {
		return ""
	}
	i, n := r.Repetition()
	rep := ""
	if n > 1 {
		rep = fmt.Sprintf(" (repetition %d of %d)", i, n)
	}
	return fmt.Sprintf("%s on %s%s: unsteady measured phase: %s.", r.Workload, r.Driver, rep, r.Steadiness.Reason)
}
