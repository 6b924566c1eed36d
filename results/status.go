package results

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The status rules live here, and only here: [Judge] turns a finished
// run's figures into its Status and StatusReasons, and
// [GeneratorExplains] says whether the generator's own stalls explain a
// latency percentile. docs/measurement.md ("Run status") documents them;
// keep the two in step.

// Reason codes of StatusReasons. They are stable: scripts and gates may
// match on them.
const (
	// ReasonRunError: the run could not complete (setup, readiness, flush).
	ReasonRunError = "run-error"
	// ReasonInterrupted: the run was stopped (Ctrl-C) before it ended.
	ReasonInterrupted = "interrupted"
	// ReasonNothingSent: the run attempted no send at all.
	ReasonNothingSent = "nothing-sent"
	// ReasonAllSendsFailed: no send was acknowledged.
	ReasonAllSendsFailed = "all-sends-failed"
	// ReasonSendErrors: the share of failed sends outside fault windows
	// exceeds Limits.MaxSendErrorRate.
	ReasonSendErrors = "send-errors"
	// ReasonNothingReceived: the workload has consumers and they received
	// nothing although sends were acknowledged.
	ReasonNothingReceived = "nothing-received"
	// ReasonRateBelowOffered: the achieved publish rate is below
	// Limits.MinOfferedShare of the open-loop rate the workload offered.
	ReasonRateBelowOffered = "rate-below-offered"
	// ReasonConsumersBehind: the backlog was still growing at the end of
	// the measured phase.
	ReasonConsumersBehind = "consumers-behind"
	// ReasonGeneratorSaturated: the load generator's own stalls or CPU use
	// explain the latency tail.
	ReasonGeneratorSaturated = "generator-saturated"
)

// Reason is one cause of a status other than ok.
type Reason struct {
	// Code is one of the Reason* constants.
	Code string `json:"code"`
	// Message says what was measured, in one sentence.
	Message string `json:"message"`
}

// Limits are the bounds the status rules apply. Build them with
// [DefaultLimits] and change what you need.
type Limits struct {
	// MaxSendErrorRate is the share of sends outside fault windows that
	// may fail before the run fails; default 0.01 (1 %).
	MaxSendErrorRate float64
	// MinOfferedShare is the share of an open-loop producerRate the run
	// must achieve, outside fault windows, to be ok; default 0.95.
	MinOfferedShare float64
	// FaultGrace extends each fault window past the fault's end, for the
	// system to recover; default 10s.
	FaultGrace time.Duration
	// HiccupFloor is the generator hiccup below which the generator
	// counts as healthy whatever the latency; default 1ms.
	HiccupFloor time.Duration
	// HiccupShare is the share of a latency percentile the generator's
	// hiccup at the same percentile must reach to explain it; default 0.5.
	HiccupShare float64
	// MaxCPUShare and MaxLateShare: a generator whose process used at
	// least MaxCPUShare of its cores while more than MaxLateShare of its
	// sends started late is saturated; defaults 0.95 and 0.01.
	MaxCPUShare, MaxLateShare float64

	_ struct{} // forces keyed literals so fields can be added
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxSendErrorRate: 0.01, MinOfferedShare: 0.95, FaultGrace: 10 * time.Second,
		HiccupFloor: time.Millisecond, HiccupShare: 0.5, MaxCPUShare: 0.95, MaxLateShare: 0.01,
	}
}

// Validate reports limits that would make the rules meaningless.
func (l Limits) Validate() error {
	var errs []error
	share := func(name string, v float64) {
		if v < 0 || v > 1 {
			errs = append(errs, fmt.Errorf("%s %g: must be between 0 and 1", name, v))
		}
	}
	share("send error limit", l.MaxSendErrorRate)
	share("minimum share of the offered rate", l.MinOfferedShare)
	share("hiccup share", l.HiccupShare)
	share("CPU share", l.MaxCPUShare)
	share("late share", l.MaxLateShare)
	if l.FaultGrace < 0 || l.HiccupFloor < 0 {
		errs = append(errs, errors.New("fault grace and hiccup floor must not be negative"))
	}
	return errors.Join(errs...)
}

// Judge returns the status of a finished run and its reasons, from the
// result's figures and how the run ended: runErr is the error that
// stopped it (nil when it completed), interrupted says it was stopped on
// request. It does not modify r. Not-applicable runs are decided before a
// run starts and never reach Judge.
//
// An interrupted run is interrupted whatever its partial figures say.
// Otherwise every rule that fires adds a reason, and the status is the
// worst of them: failed (run error, nothing sent, no send acknowledged,
// send errors over the limit, consumers received nothing), then degraded
// (rate below the offered rate, consumers behind, generator saturated),
// else ok.
func Judge(r *Result, runErr error, interrupted bool, l Limits) (Status, []Reason) {
	if interrupted {
		return StatusInterrupted, []Reason{{ReasonInterrupted, "the run was interrupted; its figures are partial"}}
	}
	var failed, degraded []Reason
	if runErr != nil {
		failed = append(failed, Reason{ReasonRunError, runErr.Error()})
	}
	failed = append(failed, sendRules(r, runErr, l)...)
	degraded = append(degraded, rateRule(r, l)...)
	degraded = append(degraded, backlogRule(r, l)...)
	degraded = append(degraded, generatorRule(r, l)...)
	switch {
	case len(failed) > 0:
		return StatusFailed, append(failed, degraded...)
	case len(degraded) > 0:
		return StatusDegraded, degraded
	}
	return StatusOK, nil
}

// sendRules are the failed rules on sends and deliveries.
func sendRules(r *Result, runErr error, l Limits) []Reason {
	c := r.Counts
	switch {
	case c.Sent == 0 && runErr == nil:
		return []Reason{{ReasonNothingSent, "no send was attempted"}}
	case c.Sent > 0 && c.Acked == 0:
		return []Reason{{ReasonAllSendsFailed, fmt.Sprintf("none of %d sends was acknowledged (%d failed)", c.Sent, c.Failed)}}
	}
	var out []Reason
	failed, attempted := sendsOutsideFaults(r, l.FaultGrace)
	if attempted > 0 && failed/attempted > l.MaxSendErrorRate {
		out = append(out, Reason{ReasonSendErrors, fmt.Sprintf("%.2f %% of sends outside fault windows failed (%.0f of %.0f), over the %.2f %% limit",
			100*failed/attempted, failed, attempted, 100*l.MaxSendErrorRate)})
	}
	if r.ConsumersPerTopic > 0 && c.Acked > 0 && c.Received == 0 {
		out = append(out, Reason{ReasonNothingReceived, fmt.Sprintf("%d sends were acknowledged but the consumers received nothing", c.Acked)})
	}
	return out
}

// sendsOutsideFaults returns failed and attempted (acknowledged plus
// failed) sends outside fault windows. Without faults these are the run's
// counts; with faults they are summed from the samples whose interval
// does not touch a window.
func sendsOutsideFaults(r *Result, grace time.Duration) (failed, attempted float64) {
	windows := faultWindows(r.Events, grace)
	if len(windows) == 0 {
		return float64(r.Counts.Failed), float64(r.Counts.Acked + r.Counts.Failed)
	}
	for i, s := range r.Samples {
		secs, ok := sampleSpan(r.Samples, i)
		if !ok || touches(windows, s.Time.Add(-time.Duration(secs*1e9)), s.Time) {
			continue
		}
		failed += s.ErrorRate * secs
		attempted += (s.ErrorRate + s.PublishRate) * secs
	}
	return failed, attempted
}

// rateRule: an open-loop run achieved less than MinOfferedShare of its
// offered rate: acknowledged sends per second of the measured phase
// (MeasuredPublishRate) or, with faults, the mean rate of the measured
// samples outside fault windows.
func rateRule(r *Result, l Limits) []Reason {
	if r.OfferedRate <= 0 {
		return nil // closed loop: nothing was offered
	}
	achieved, ok := r.MeasuredPublishRate()
	if windows := faultWindows(r.Events, l.FaultGrace); len(windows) > 0 {
		var sum float64
		n := 0
		for i, s := range r.Samples {
			secs, spanned := sampleSpan(r.Samples, i)
			if !s.Measured() || !spanned || touches(windows, s.Time.Add(-time.Duration(secs*1e9)), s.Time) {
				continue
			}
			sum += s.PublishRate
			n++
		}
		achieved, ok = sum/float64(max(n, 1)), n > 0
	}
	if !ok || achieved >= l.MinOfferedShare*r.OfferedRate {
		return nil
	}
	return []Reason{{ReasonRateBelowOffered, fmt.Sprintf("achieved %.0f msg/s of the %.0f msg/s offered (%.0f %%, below %.0f %%)",
		achieved, r.OfferedRate, 100*achieved/r.OfferedRate, 100*l.MinOfferedShare)}}
}

// MeasuredPublishRate is the acknowledged sends of the measured phase
// (summed over partitions) per second of it: the achieved publish rate,
// exact where a mean of per-interval rates is not (intervals straddle the
// phase's ends). ok is false when the result has no measured phase.
func (r *Result) MeasuredPublishRate() (rate float64, ok bool) {
	if r.Meta.MeasuredSeconds <= 0 || len(r.PartitionsDetail) == 0 {
		return 0, false
	}
	var acked int64
	for _, p := range r.PartitionsDetail {
		acked += p.MeasuredSent
	}
	return float64(acked) / r.Meta.MeasuredSeconds, true
}

// backlogRule: consumers fell behind for good when, over the second half
// of the steady measured samples outside fault windows (at least four in
// all), the backlog grew (least-squares slope above zero and last above
// first) and ended above one second of publishing (and above 100
// messages), which a run whose consumers keep up never holds. A backlog a
// fault built is the fault's.
func backlogRule(r *Result, l Limits) []Reason {
	if r.ConsumersPerTopic == 0 {
		return nil
	}
	windows := faultWindows(r.Events, l.FaultGrace)
	var steady []Sample
	for i, s := range r.Samples {
		secs, _ := sampleSpan(r.Samples, i)
		if s.Measured() && s.Phase == "" && !touches(windows, s.Time.Add(-time.Duration(secs*1e9)), s.Time) {
			steady = append(steady, s)
		}
	}
	win := steady[len(steady)/2:]
	if len(steady) < 4 || len(win) < 2 {
		return nil
	}
	first, last := win[0], win[len(win)-1]
	if last.Backlog <= first.Backlog || slope(win) <= 0 {
		return nil
	}
	pub, _, _ := r.MeanRates()
	if float64(last.Backlog) <= max(pub, 100) {
		return nil
	}
	return []Reason{{ReasonConsumersBehind, fmt.Sprintf("the backlog grew from %d to %d messages over the last %d samples of the measured phase",
		first.Backlog, last.Backlog, len(win))}}
}

// slope is the least-squares slope of backlog over sample index.
func slope(s []Sample) float64 {
	n := float64(len(s))
	var sx, sy, sxy, sxx float64
	for i, v := range s {
		x, y := float64(i), float64(v.Backlog)
		sx, sy, sxy, sxx = sx+x, sy+y, sxy+x*y, sxx+x*x
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// generatorRule: the generator was saturated when its hiccups explain the
// corrected publish or end-to-end p99, or when its process used nearly
// every core while sends started late.
func generatorRule(r *Result, l Limits) []Reason {
	g := r.Generator
	if g == nil {
		return nil
	}
	var out, tails []string
	for _, p := range []struct {
		name  string
		p99   float64
		count int64
	}{
		{"publish", r.Latency.Publish.P99, r.Latency.Publish.Count},
		{"end-to-end", r.Latency.EndToEnd.P99, r.Latency.EndToEnd.Count},
	} {
		if p.count > 0 && GeneratorExplains(g, p.p99, l) {
			tails = append(tails, fmt.Sprintf("the %s p99 %.2f ms", p.name, p.p99))
		}
	}
	if len(tails) > 0 {
		out = append(out, fmt.Sprintf("its hiccup p99 %.2f ms is at least %.0f %% of %s", g.Hiccups.P99, 100*l.HiccupShare, strings.Join(tails, " and of ")))
	}
	if c := r.Counts; c.Sent > 0 && g.CPUShare >= l.MaxCPUShare && float64(c.Late)/float64(c.Sent) > l.MaxLateShare {
		out = append(out, fmt.Sprintf("the process used %.0f %% of its %d cores while %d of %d sends started late", 100*g.CPUShare, g.GOMAXPROCS, c.Late, c.Sent))
	}
	if len(out) == 0 {
		return nil
	}
	return []Reason{{ReasonGeneratorSaturated, "the load generator was saturated: " + strings.Join(out, "; ")}}
}

// GeneratorExplains reports whether the generator's own stalls explain a
// 99th-percentile latency of p99 ms: its hiccup p99 is at least
// HiccupFloor and at least HiccupShare of p99. Such a p99 measures the
// generator as much as the system. A nil g (a result without generator
// figures) explains nothing.
func GeneratorExplains(g *Generator, p99 float64, l Limits) bool {
	if g == nil || g.Hiccups.Count == 0 {
		return false
	}
	h := g.Hiccups.P99
	return h >= float64(l.HiccupFloor)/1e6 && h >= l.HiccupShare*p99
}

// faultWindows returns [start, stop+grace] of each fault in events; a
// fault without a stop event lasts to the end of the run.
func faultWindows(events []Event, grace time.Duration) [][2]time.Time {
	var out [][2]time.Time
	open := map[string]int{}
	for _, e := range events {
		// Detail is the fault's name, with ": <error>" when it failed.
		name, _, _ := strings.Cut(e.Detail, ": ")
		switch e.Kind {
		case "fault-start":
			open[name] = len(out)
			out = append(out, [2]time.Time{e.Time, time.Time{}})
		case "fault-stop":
			if i, ok := open[name]; ok {
				out[i][1] = e.Time.Add(grace)
				delete(open, name)
			}
		}
	}
	for i := range out {
		if out[i][1].IsZero() {
			out[i][1] = time.Unix(1<<40, 0)
		}
	}
	return out
}

// touches reports whether [from, to] overlaps a window.
func touches(windows [][2]time.Time, from, to time.Time) bool {
	for _, w := range windows {
		if !to.Before(w[0]) && !from.After(w[1]) {
			return true
		}
	}
	return false
}

// sampleSpan is the length in seconds of sample i's interval, from the
// previous sample's time (the next gap for the first sample); ok is false
// when it cannot be told.
func sampleSpan(s []Sample, i int) (float64, bool) {
	switch {
	case i > 0:
		return s[i].Time.Sub(s[i-1].Time).Seconds(), true
	case len(s) > 1:
		return s[1].Time.Sub(s[0].Time).Seconds(), true
	}
	return 0, false
}

// Explain says in one line why a run has its status: the run error or
// not-applicable reason (Error), then every status reason, as
// "code: message". It is empty for an ok run.
func (r *Result) Explain() string {
	var parts []string
	if r.Error != "" {
		parts = append(parts, r.Error)
	}
	for _, x := range r.StatusReasons {
		if x.Code == ReasonRunError && x.Message == r.Error {
			continue // the run error, said once
		}
		parts = append(parts, x.Code+": "+x.Message)
	}
	return strings.Join(parts, "; ")
}

// Complete reports whether r is a completed run with figures to use: ok,
// or degraded (measured, at another load than asked; StatusReasons say
// why). Failed, interrupted and not-applicable runs are not. Statistics
// over repetitions use every complete run: leaving the degraded ones out
// would bias a mean towards the lucky repetitions.
func (r *Result) Complete() bool { return r.Status == StatusOK || r.Status == StatusDegraded }

// OKApartFromGenerator reports whether r is ok, or degraded with a
// saturated load generator among its reasons. The producers and
// consumers run in the generator's process, so a saturated generator
// explains any shortfall (rate, backlog) as well as the system could:
// such a run says nothing against the system, only against the machine
// that ran the load. Tests that check a system's behaviour, not the
// machine they run on, accept it. A failed run never passes.
func (r *Result) OKApartFromGenerator() bool {
	if r.Status == StatusOK {
		return true
	}
	return r.Status == StatusDegraded && slices.ContainsFunc(r.StatusReasons, func(x Reason) bool { return x.Code == ReasonGeneratorSaturated })
}
