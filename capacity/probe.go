package capacity

import (
	"fmt"
	"math"
)

// Verdicts of a probe.
const (
	// Pass: the offered rate was sustained under the objective.
	Pass = "pass"
	// Fail: some criterion failed; Probe.Reasons says which.
	Fail = "fail"
)

// Probe phases: the ramp that brackets the limit, the bisection that
// narrows it, and the confirmation run at the found rate.
const (
	PhaseRamp    = "ramp"
	PhaseBisect  = "bisect"
	PhaseConfirm = "confirm"
)

// Measurement is what one probe run measured, extracted from its result by
// the caller (suite/search.go), so that judging stays a pure function.
type Measurement struct {
	// Offered is the open-loop rate asked for, msg/s over all producers.
	Offered float64
	// Achieved is the acknowledged publish rate in the measured phase,
	// msg/s.
	Achieved float64
	// Consumed is the slowest subscription's receive rate in the measured
	// phase, msg/s; ignored when Subscriptions is 0.
	Consumed      float64
	Subscriptions int
	// AtObjective is the latency at the objective's percentile, of the
	// objective's figure, corrected for coordinated omission, ms. NaN when
	// nothing was recorded.
	AtObjective float64
	// P50 and P99 of the same figure, ms, for the hockey-stick chart.
	P50, P99 float64
	// BacklogGrowth is the slope of the client-side backlog over the
	// measured phase, msg/s (least squares over the samples).
	BacklogGrowth float64
	// Seconds is the length of the measured phase.
	Seconds float64
	// Failed counts sends that failed; Lost acknowledged messages no
	// subscription received.
	Failed, Lost int64
	// RunError is the error of a run that did not complete; "" otherwise.
	RunError string
}

// Probe is one offered rate of a search and its verdict. Latencies are in
// ms, rates in msg/s.
type Probe struct {
	// Phase is PhaseRamp, PhaseBisect or PhaseConfirm.
	Phase string `json:"phase"`
	// Offered, Achieved and Consumed (the slowest subscription) rates.
	Offered  float64 `json:"offered"`
	Achieved float64 `json:"achieved"`
	Consumed float64 `json:"consumed"`
	// P50 and P99 of the objective's latency figure; AtObjective at the
	// objective's own percentile. CO-corrected, ms; 0 when nothing was
	// recorded (the reasons say so), since JSON has no NaN.
	P50         float64 `json:"p50"`
	P99         float64 `json:"p99"`
	AtObjective float64 `json:"atObjective"`
	// BacklogGrowth is the client-side backlog's slope, msg/s.
	BacklogGrowth float64 `json:"backlogGrowth"`
	// Seconds is the probe's measured length; Wall its wall-clock time
	// including setup, warm-up, drain and teardown.
	Seconds float64 `json:"seconds"`
	Wall    float64 `json:"wall"`
	// Verdict is Pass or Fail.
	Verdict string `json:"verdict"`
	// Reasons say which criteria failed (empty on a pass).
	Reasons []string `json:"reasons,omitempty"`
}

// Passed reports whether the probe sustained its rate.
func (p Probe) Passed() bool { return p.Verdict == Pass }

// Judge decides whether m sustained its offered rate under o:
//   - the run completed, no send failed and every acknowledged message
//     was received by the end of the drain;
//   - the achieved rate is at least o.MinAchieved of the offered rate;
//   - consumers kept up and the backlog did not grow: the consumers'
//     shortfall over the probe and the backlog's growth each stay within
//     the larger of 1 - o.MinAchieved of the offered messages and the
//     messages the latency bound allows in flight (offered rate x bound),
//     so the in-flight noise of a short probe is not mistaken for either;
//   - the latency at the objective's percentile is below the bound.
//
// Every failing criterion is listed in the reasons.
func Judge(o Objective, m Measurement) Probe {
	p := Probe{Offered: m.Offered, Achieved: m.Achieved, Consumed: m.Consumed, P50: orZero(m.P50), P99: orZero(m.P99),
		AtObjective: orZero(m.AtObjective), BacklogGrowth: m.BacklogGrowth, Seconds: m.Seconds}
	var why []string
	if m.RunError != "" {
		why = append(why, "run failed: "+m.RunError)
	}
	if m.Failed > 0 {
		why = append(why, fmt.Sprintf("%d sends failed", m.Failed))
	}
	if m.Lost > 0 {
		why = append(why, fmt.Sprintf("%d acknowledged messages not received by the end of the drain", m.Lost))
	}
	if m.Offered > 0 && m.Achieved < o.MinAchieved*m.Offered {
		why = append(why, fmt.Sprintf("achieved %.0f msg/s, %.1f%% of offered (need %s%%)", m.Achieved, 100*m.Achieved/m.Offered, fmtNum(100*o.MinAchieved)))
	}
	allowed := math.Max((1-o.MinAchieved)*m.Offered*m.Seconds, m.Offered*o.BelowMs/1000)
	if short := (m.Achieved - m.Consumed) * m.Seconds; m.Subscriptions > 0 && short > allowed {
		why = append(why, fmt.Sprintf("consumers received %.0f msg/s of the %.0f msg/s published: %.0f messages behind", m.Consumed, m.Achieved, short))
	}
	if grown := m.BacklogGrowth * m.Seconds; grown > allowed {
		why = append(why, fmt.Sprintf("backlog grew by %.0f messages over %.1fs (%.0f msg/s)", grown, m.Seconds, m.BacklogGrowth))
	}
	switch {
	case math.IsNaN(m.AtObjective):
		why = append(why, "no latency recorded")
	case m.AtObjective >= o.BelowMs:
		why = append(why, fmt.Sprintf("p%s %.2f ms is not below %sms", fmtNum(o.Percentile), m.AtObjective, fmtNum(o.BelowMs)))
	}
	p.Verdict, p.Reasons = Pass, why
	if len(why) > 0 {
		p.Verdict = Fail
	}
	return p
}

// orZero is v, or 0 for NaN (nothing recorded): a probe goes into result
// files and to a distributed run's shards as JSON, which has no NaN.
func orZero(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}
