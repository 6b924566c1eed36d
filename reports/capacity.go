package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/brokerbench/brokerbench/capacity"
)

// sweepAxes are the swept keys a capacity sweep is fitted over, in the
// order a scenario's axis is looked for; "brokers" is the declared
// maxRate.brokers label, which varies across result folders.
var sweepAxes = []string{"partitionsPerTopic", "producersPerTopic", "consumerPerSubscription", "brokers"}

// capSystem is one system's capacity searches, by scenario.
type capSystem struct {
	Label     string
	Scenarios []*capScenario
}

// capScenario is one scenario's searches: a single search, or a sweep
// over Axis fitted with the USL.
type capScenario struct {
	Name string
	// Axis is the swept key the runs differ in; "" for a single search.
	Axis string
	Runs []*Run
	// Fit is the USL over Axis; nil when the sweep could not be fitted
	// (FitErr says why) or has no axis.
	Fit    *capacity.Fit
	FitErr error
}

// capLabel groups capacity runs: by series label, except that runs with a
// declared broker count are grouped by system, because a sweep over
// cluster sizes comes from one result folder per cluster.
func capLabel(r *Run) string {
	if r.Capacity.Brokers > 0 {
		return r.Driver
	}
	return r.Label
}

// capacitySystems gathers the runs with a capacity search (ok or not:
// a search that confirmed nothing is still evidence) by system and
// scenario, and fits each sweep.
func capacitySystems(runs []*Run) []*capSystem {
	var out []*capSystem
	for _, r := range runs {
		if r.Capacity == nil {
			continue
		}
		label := capLabel(r)
		i := slices.IndexFunc(out, func(s *capSystem) bool { return s.Label == label })
		if i < 0 {
			out = append(out, &capSystem{Label: label})
			i = len(out) - 1
		}
		s := out[i]
		j := slices.IndexFunc(s.Scenarios, func(c *capScenario) bool { return c.Name == r.Scenario })
		if j < 0 {
			s.Scenarios = append(s.Scenarios, &capScenario{Name: r.Scenario})
			j = len(s.Scenarios) - 1
		}
		s.Scenarios[j].Runs = append(s.Scenarios[j].Runs, r)
	}
	for _, s := range out {
		for _, c := range s.Scenarios {
			c.fit()
		}
	}
	return out
}

// axisValue is r's value of a sweep axis; 0 when it has none.
func axisValue(r *Run, axis string) float64 {
	if axis == "brokers" {
		return float64(r.Capacity.Brokers)
	}
	v, err := strconv.ParseFloat(r.Sweep[axis], 64)
	if err != nil {
		return 0
	}
	return v
}

// fit finds the scenario's axis (the first of sweepAxes whose value
// differs between runs) and fits the USL to every confirmed repetition.
func (c *capScenario) fit() {
	for _, a := range sweepAxes {
		vals := map[float64]bool{}
		for _, r := range c.Runs {
			vals[axisValue(r, a)] = true
		}
		if len(vals) > 1 && !vals[0] {
			c.Axis = a
			break
		}
	}
	if c.Axis == "" {
		return
	}
	slices.SortStableFunc(c.Runs, func(a, b *Run) int { return cmp.Compare(axisValue(a, c.Axis), axisValue(b, c.Axis)) })
	var pts []capacity.Point
	for _, r := range c.Runs {
		for _, x := range r.Capacity.Confirmed() {
			pts = append(pts, capacity.Point{N: axisValue(r, c.Axis), X: x})
		}
	}
	f, err := capacity.FitUSL(pts)
	if err != nil {
		c.FitErr = err
		return
	}
	c.Fit = &f
}

// measured is what the planner needs of every search.
func (s *capSystem) measured() []capacity.Measured {
	var out []capacity.Measured
	for _, c := range s.Scenarios {
		for _, r := range c.Runs {
			subs := specInt(r, "SubscriptionsPerTopic", 1)
			out = append(out, capacity.Measured{Label: r.Workload, Partitions: r.Partitions, Producers: r.ProducersPerTopic,
				Consumers: r.ConsumersPerTopic / max(subs, 1), Subscriptions: subs, Brokers: max(r.Capacity.Brokers, 1),
				MessageSize: r.MessageSize, Objective: r.Capacity.Objective, Found: r.Capacity.Found, Repetitions: len(r.Capacity.Repetitions)})
		}
	}
	return out
}

// fits returns the system's USL fits by axis (the first scenario's per
// axis).
func (s *capSystem) fits() map[string]capacity.Fit {
	out := map[string]capacity.Fit{}
	for _, c := range s.Scenarios {
		if _, seen := out[c.Axis]; c.Fit != nil && !seen {
			out[c.Axis] = *c.Fit
		}
	}
	return out
}

// specInt reads an integer field of the workload spec stored in a result
// (decoded from JSON as a map); def when absent.
func specInt(r *Run, field string, def int) int {
	m, ok := r.Spec.(map[string]any)
	if !ok {
		return def
	}
	if v, ok := m[field].(float64); ok {
		return int(v)
	}
	return def
}

// tables are the capacity page's tables for s: every search, and every
// sweep's fit.
func (s *capSystem) tables() []table {
	t := table{Title: "Capacity searches on " + s.Label,
		Header: []string{"search", "objective", "found msg/s", "95% CI", "confirmed", "probes", "stop", "search s"}}
	fits := table{Title: "Scalability fits on " + s.Label + " (USL: X(N) = lambda N / (1 + sigma (N-1) + kappa N (N-1)))",
		Header: []string{"scenario", "N", "points", "lambda", "sigma", "kappa", "R2", "N*", "X_max msg/s"}}
	for _, c := range s.Scenarios {
		for _, r := range c.Runs {
			rec := r.Capacity
			ci, probes, secs := "-", 0, 0.0
			if rec.Found.HasInterval() {
				ci = fmtRate(rec.Found.Low) + " - " + fmtRate(rec.Found.High)
			}
			var stops []string
			for k, rep := range rec.Repetitions {
				probes += len(rep.Probes)
				secs += rep.Seconds
				stops = append(stops, rep.Stop)
				for _, n := range rep.Notes {
					t.Notes = append(t.Notes, fmt.Sprintf("%s, repetition %d: %s", r.Workload, k+1, n))
				}
			}
			found := "none"
			if rec.Found.N > 0 {
				found = fmtRate(rec.Found.Mean)
			}
			t.Rows = append(t.Rows, []string{r.Workload, ascii(rec.Objective.String()), found, ci,
				fmt.Sprintf("%d of %d", rec.Found.N, len(rec.Repetitions)), fmt.Sprint(probes), strings.Join(slices.Compact(stops), ","), fmt.Sprintf("%.0f", secs)})
			if w := rec.Found.Warning; w != "" {
				t.Notes = append(t.Notes, r.Workload+": "+w)
			}
		}
		switch {
		case c.Fit != nil:
			f := c.Fit
			fits.Rows = append(fits.Rows, []string{c.Name, c.Axis, fmt.Sprint(f.Points), fmtParam(f.Lambda), fmtSmall(f.Sigma), fmtSmall(f.Kappa),
				fmt.Sprintf("%.2f", f.R2), fmtPeakParam(f.Peak), fmtParam(f.XMax)})
			for _, n := range f.Notes {
				fits.Notes = append(fits.Notes, ascii(c.Name+": "+n))
			}
		case c.FitErr != nil:
			fits.Notes = append(fits.Notes, ascii(c.Name+": "+c.FitErr.Error()))
		}
	}
	t.Notes = append(t.Notes, "Found: the highest offered open-loop rate that met the objective and passed a confirmation run; mean and 95% Student-t interval over the confirmed repetitions.")
	out := []table{t}
	if len(fits.Rows)+len(fits.Notes) > 0 {
		fits.Notes = append(fits.Notes, "Intervals are 95% (linearised covariance at the least-squares optimum; delta method for N* and X_max). sigma near 1: the setup is serialized; N* beyond the measured range is a model extrapolation.")
		out = append(out, fits)
	}
	return out
}

// fmtSmall prints σ or κ with two significant digits; values below 1e-9
// are an optimizer's zero.
func fmtSmall(p capacity.Param) string {
	f := func(v float64) string {
		if math.Abs(v) < 1e-9 {
			return "0"
		}
		return fmt.Sprintf("%.2g", v)
	}
	if p.Low == p.High {
		return f(p.Value)
	}
	return fmt.Sprintf("%s [%s, %s]", f(p.Value), f(p.Low), f(p.High))
}

func fmtPeakParam(p capacity.Param) string {
	f := func(v float64) string {
		if math.IsInf(v, 1) {
			return "unbounded"
		}
		return fmt.Sprintf("%.1f", v)
	}
	if p.Low == p.High {
		return f(p.Value)
	}
	return fmt.Sprintf("%s [%s, %s]", f(p.Value), f(p.Low), f(p.High))
}

// capacitySections adds one section per system with capacity searches,
// after every workload's own section.
func capacitySections(runs []*Run) []*Section {
	var out []*Section
	for _, s := range capacitySystems(runs) {
		sec := &Section{Name: "capacity on " + s.Label, capacity: s}
		for _, c := range s.Scenarios {
			sec.Runs = append(sec.Runs, c.Runs...)
		}
		out = append(out, sec)
	}
	return out
}
