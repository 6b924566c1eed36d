package reports

import (
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/results"
)

// timeXLabel is the x axis of every time chart: the runner's elapsed
// seconds, negative during warm-up (shaded grey).
const timeXLabel = "time since measurement start (s); grey = warm-up"

// rebalanceGap groups assignment callbacks closer than this into one
// rebalance band, as the runner counts them (docs/results.md).
const rebalanceGap = 0.5

// eventSpans returns the warm-up, rebalance and fault bands of a section's
// runs.
//
// NOTE: fault windows come from events of kind "fault-start" and
// "fault-end" or "fault-stop" (paired by Detail, the fault's description),
// and instant "fault" events, as the runner records the chaos schedule's
// start/stop events (issue 3). Results without them shade nothing.
func eventSpans(runs []*Run) (spans shading, rebalances, faults bool) {
	for _, r := range runs {
		if !r.ok() {
			continue
		}
		if len(r.Samples) > 0 && r.Samples[0].Elapsed < 0 {
			spans = append(spans, span{From: firstInterval(r), To: 0, Color: warmupShade})
		}
		var open *span
		faultStart := map[string]float64{}
		// Assignments while consumers start (before the first sample's
		// interval) and stop (after producers stopped) are not rebalances.
		from, to := firstInterval(r), lastElapsed(r)
		for _, e := range r.Events {
			if e.Kind == "producers-stopped" {
				to = min(to, e.Elapsed)
			}
		}
		for _, e := range r.Events {
			switch {
			case e.Kind == "assigned" || e.Kind == "revoked":
				if e.Elapsed < from || e.Elapsed > to {
					continue
				}
				if open != nil && e.Elapsed-open.To <= rebalanceGap {
					open.To = e.Elapsed
					continue
				}
				spans = append(spans, span{From: e.Elapsed, To: e.Elapsed, Color: rebalanceShade})
				open = &spans[len(spans)-1]
				rebalances = true
			case e.Kind == "fault-start":
				faultStart[e.Detail] = e.Elapsed
			case e.Kind == "fault-end" || e.Kind == "fault-stop":
				if from, ok := faultStart[e.Detail]; ok {
					spans = append(spans, span{From: from, To: e.Elapsed, Color: faultShade})
					delete(faultStart, e.Detail)
					faults = true
				}
			case e.Kind == "fault":
				spans = append(spans, span{From: e.Elapsed, To: e.Elapsed, Color: faultShade})
				faults = true
			}
		}
		for _, from := range faultStart { // a fault still active at the end
			spans = append(spans, span{From: from, To: lastElapsed(r), Color: faultShade})
			faults = true
		}
	}
	return spans, rebalances, faults
}

// firstInterval is the start of the first sample's interval: samples are
// stamped at the end of their interval.
func firstInterval(r *Run) float64 {
	if len(r.Samples) == 0 {
		return 0
	}
	if len(r.Samples) > 1 {
		return 2*r.Samples[0].Elapsed - r.Samples[1].Elapsed
	}
	return r.Samples[0].Elapsed - 1
}

func lastElapsed(r *Run) float64 {
	if n := len(r.Samples); n > 0 {
		return r.Samples[n-1].Elapsed
	}
	return 0
}

// addShading puts the bands behind the lines and names them in the legend.
func addShading(p *plot.Plot, runs []*Run) {
	spans, reb, faults := eventSpans(runs)
	// Start the axis where the first sample's interval starts, so warm-up
	// (negative time) is in view.
	for _, r := range okRuns(runs) {
		p.X.Min = math.Min(p.X.Min, firstInterval(r))
	}
	if len(spans) == 0 {
		return
	}
	p.Add(spans)
	if reb {
		p.Legend.Add("rebalance", legendSwatch{rebalanceShade})
	}
	if faults {
		p.Legend.Add("fault window", legendSwatch{faultShade})
	}
}

// series extracts one figure from every sample of r.
func series(r *Run, f func(s *results.Sample) (float64, bool)) plotter.XYs {
	xys := make(plotter.XYs, 0, len(r.Samples))
	for i := range r.Samples {
		if y, ok := f(&r.Samples[i]); ok {
			xys = append(xys, plotter.XY{X: r.Samples[i].Elapsed, Y: y})
		}
	}
	return xys
}

// rateChart: publish and consume rate over time, one colour per system,
// consume dashed, with warm-up, rebalances and faults shaded.
func rateChart(sec *Section, pal palette) (*Chart, error) {
	c := &Chart{ID: "rate", Title: sectionTitle(sec, "publish and consume rate")}
	p := newPlot(c.Title, timeXLabel, "rate (msg/s)")
	// Shading is added first so that lines are drawn over it.
	addShading(p, sec.Runs)
	for _, r := range okRuns(sec.Runs) {
		pub := series(r, func(s *results.Sample) (float64, bool) { return s.PublishRate, true })
		con := series(r, func(s *results.Sample) (float64, bool) { return s.ConsumeRate, true })
		if err := addLine(p, r.legend()+" publish", pub, pal.color(r.Label), false); err != nil {
			return nil, err
		}
		if err := addLine(p, r.legend()+" consume", con, pal.color(r.Label), true); err != nil {
			return nil, err
		}
	}
	p.Y.Min = 0
	roomForLegend(p, 2*len(okRuns(sec.Runs))+2)
	c.plot = p
	return c, nil
}

// latencyTimeChart: p50 (dashed) and p99 (solid) of one latency kind per
// interval. Intervals without values (count 0) are left out rather than
// drawn as zero latency.
func latencyTimeChart(sec *Section, pal palette, kind string) (*Chart, error) {
	pick := func(s *results.Sample) metrics.Summary { return s.Publish }
	what := "publish latency p50/p99 over time (CO-corrected)"
	if kind == "e2e" {
		pick = func(s *results.Sample) metrics.Summary { return s.EndToEnd }
		what = "end-to-end latency p50/p99 over time (CO-corrected)"
	}
	c := &Chart{ID: "latency-time-" + kind, Title: sectionTitle(sec, what)}
	p := newPlot(c.Title, timeXLabel, "latency (ms)")
	addShading(p, sec.Runs)
	for _, r := range okRuns(sec.Runs) {
		p50 := series(r, func(s *results.Sample) (float64, bool) { m := pick(s); return m.P50, m.Count > 0 })
		p99 := series(r, func(s *results.Sample) (float64, bool) { m := pick(s); return m.P99, m.Count > 0 })
		if err := addLine(p, r.legend()+" p99", p99, pal.color(r.Label), false); err != nil {
			return nil, err
		}
		if err := addLine(p, r.legend()+" p50", p50, pal.color(r.Label), true); err != nil {
			return nil, err
		}
	}
	p.Y.Min = 0
	roomForLegend(p, 2*len(okRuns(sec.Runs))+2)
	c.plot = p
	return c, nil
}

// lagChart: client-side backlog (solid) and broker-reported lag (dashed,
// only for systems that report it) over time.
func lagChart(sec *Section, pal palette) (*Chart, error) {
	c := &Chart{ID: "lag", Title: sectionTitle(sec, "consumer lag over time")}
	p := newPlot(c.Title, timeXLabel, "lag (messages)")
	addShading(p, sec.Runs)
	for _, r := range okRuns(sec.Runs) {
		// A delivery can be counted before its ack arrives, which makes
		// the client-side backlog briefly negative: drawn as 0.
		client := series(r, func(s *results.Sample) (float64, bool) { return math.Max(0, float64(s.Backlog)), true })
		broker := series(r, func(s *results.Sample) (float64, bool) { return float64(s.BrokerLag), s.BrokerLag >= 0 })
		if err := addLine(p, r.legend()+" client backlog", client, pal.color(r.Label), false); err != nil {
			return nil, err
		}
		name := r.legend() + " broker lag"
		if len(broker) == 0 {
			p.Legend.Add(name+": not reported by "+r.Driver, legendSwatch{warmupShade})
			continue
		}
		if err := addLine(p, name, broker, pal.color(r.Label), true); err != nil {
			return nil, err
		}
	}
	p.Y.Min = 0
	roomForLegend(p, 2*len(okRuns(sec.Runs))+2)
	c.plot = p
	return c, nil
}

func okRuns(runs []*Run) []*Run {
	var out []*Run
	for _, r := range runs {
		if r.ok() && len(r.Samples) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// fileSafe turns a section or chart name into a file name part.
func fileSafe(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			return c
		}
		return '_'
	}, s)
}
