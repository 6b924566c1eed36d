package reports

import (
	"fmt"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/brokerbench/brokerbench/results"
)

// repeated reports whether some series of sec has two or more ok
// repetitions, so that intervals can be drawn.
func repeated(sec *Section) bool {
	for _, reps := range sec.Reps {
		if len(okRuns(reps)) >= 2 {
			return true
		}
	}
	return false
}

// meanPoints pairs each mean with its interval for error bars.
type meanPoints struct {
	plotter.XYs
	plotter.YErrors
}

// repeatCharts draw, for a section run with repetitions, the headline
// rates and latencies of every series as the mean with error bars for its
// 95 % confidence interval: the noise the time-series charts (first
// repetition only) cannot show.
func repeatCharts(sec *Section, pal palette) ([]*Chart, error) {
	if !repeated(sec) {
		return nil, nil
	}
	var out []*Chart
	for _, kind := range []struct {
		id, what, unit string
		latency        bool
	}{
		{"repeat-rates", "mean rates with 95% confidence intervals over repetitions", "rate (msg/s)", false},
		{"repeat-latency", "mean latency percentiles with 95% confidence intervals over repetitions", "latency (ms, CO-corrected)", true},
	} {
		var metrics []results.Metric
		var names []string
		for _, name := range results.HeadlineMetrics {
			if m, _ := results.MetricByName(name); m.Latency == kind.latency {
				metrics = append(metrics, m)
				names = append(names, strings.TrimSuffix(strings.TrimSuffix(m.Label, " ms"), " msg/s"))
			}
		}
		c := &Chart{ID: kind.id, Title: sectionTitle(sec, kind.what)}
		p := newPlot(c.Title, "", kind.unit)
		n := len(sec.Runs)
		for i, r := range sec.Runs {
			reps := resultsOf(sec.Reps[r.Label])
			var pts meanPoints
			for x, m := range metrics {
				f := m.Summarize(reps)
				if f.N == 0 {
					continue
				}
				// Series side by side within each metric's slot.
				off := 0.6 * (float64(i) - float64(n-1)/2) / float64(max(n, 1))
				pts.XYs = append(pts.XYs, plotter.XY{X: float64(x) + off, Y: f.Mean})
				pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{f.Mean - f.Low, f.High - f.Mean})
			}
			if len(pts.XYs) == 0 {
				continue
			}
			s, err := plotter.NewScatter(pts.XYs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.ID, err)
			}
			s.Color, s.Shape, s.Radius = pal.color(r.Label), draw.CircleGlyph{}, vg.Points(3)
			eb, err := plotter.NewYErrorBars(pts)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.ID, err)
			}
			eb.LineStyle.Color, eb.LineStyle.Width, eb.CapWidth = pal.color(r.Label), vg.Points(1.4), vg.Points(8)
			p.Add(s, eb)
			p.Legend.Add(ascii(fmt.Sprintf("%s (n=%d)", r.Label, len(okRuns(sec.Reps[r.Label])))), s)
		}
		p.NominalX(names...)
		p.Y.Min = 0
		roomForLegend(p, n)
		c.plot = p
		out = append(out, c)
	}
	return out, nil
}

// markFirstRepetition adds to the titles of charts that draw one run per
// series that, in a section with repetitions, they show the first.
func markFirstRepetition(sec *Section, charts []*Chart) {
	most := 0
	for _, reps := range sec.Reps {
		most = max(most, len(reps))
	}
	if most < 2 {
		return
	}
	for _, c := range charts {
		c.Title += fmt.Sprintf(" (first of %d repetitions)", most)
		c.plot.Title.Text = ascii(c.Title)
	}
}
