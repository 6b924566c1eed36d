package reports

import (
	"fmt"
	"math"
	"strings"

	"github.com/brokerbench/brokerbench/results"
)

// hiccupChart draws the load generator's hiccups by percentile, one line
// per run, on the same axes as the latency distributions, so that a
// latency curve can be read against the generator's own stalls: where
// the two meet, the latency measures the generator (docs/measurement.md).
// nil when no run of the section recorded hiccups (older results, OMB
// files).
func hiccupChart(sec *Section, pal palette) (*Chart, error) {
	title := sectionTitle(sec, "load generator hiccups by percentile (probe every 1 ms)")
	c := &Chart{ID: "generator-hiccups", Title: title}
	p := newPercentilePlot(title, "hiccup (ms)")
	lines := 0
	for _, r := range sec.Runs {
		if !r.ok() || r.Generator == nil || r.Generator.HiccupHistogram == "" {
			continue
		}
		xys, err := percentileCurve(r.Generator.HiccupHistogram)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: generator hiccups: %w", r.Workload, r.Driver, err)
		}
		if err := addLine(p, r.legend(), xys, pal.color(r.Label), true); err != nil {
			return nil, err
		}
		lines++
	}
	if lines == 0 {
		return nil, nil
	}
	p.Y.Min = 0
	p.X.Max = math.Max(p.X.Max, 10)
	roomForLegend(p, lines)
	c.plot = p
	return c, nil
}

// p99Cell formats a p99 for the summary table, marked "!" when the load
// generator's hiccups explain it (results.GeneratorExplains).
func p99Cell(r *Run, count int64, v float64) string {
	s := ms(count, v)
	if count > 0 && results.GeneratorExplains(r.Generator, v, results.DefaultLimits()) {
		s += " !"
	}
	return s
}

// statusNote explains a run whose status is not ok, and says when its
// p99s are marked; "" otherwise.
func statusNote(r *Run) string {
	var notes []string
	if r.Status != results.StatusOK && r.Status != results.StatusNotApplicable {
		notes = append(notes, fmt.Sprintf("%s is %s: %s.", r.Label, r.Status, ascii(r.Explain())))
	}
	l, lim := r.Latency, results.DefaultLimits()
	if results.GeneratorExplains(r.Generator, l.Publish.P99, lim) || results.GeneratorExplains(r.Generator, l.EndToEnd.P99, lim) {
		notes = append(notes, fmt.Sprintf("%s: a p99 marked ! is explained by the load generator's own hiccups (p99 %.2f ms); it measures the generator as much as the system.", r.Label, r.Generator.Hiccups.P99))
	}
	return strings.Join(notes, " ")
}
