package reports

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/stats"
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

// add appends a point at x for the summary f (nothing when f has no
// value).
func (m *meanPoints) add(x float64, f stats.Summary) {
	if f.N == 0 {
		return
	}
	m.XYs = append(m.XYs, plotter.XY{X: x, Y: f.Mean})
	m.YErrors = append(m.YErrors, struct{ Low, High float64 }{f.Mean - f.Low, f.High - f.Mean})
}

// sortByX orders the points by x, keeping each interval with its point.
func (m *meanPoints) sortByX() { sort.Sort(byX{m}) }

type byX struct{ m *meanPoints }

func (b byX) Len() int           { return len(b.m.XYs) }
func (b byX) Less(i, j int) bool { return b.m.XYs[i].X < b.m.XYs[j].X }
func (b byX) Swap(i, j int) {
	b.m.XYs[i], b.m.XYs[j] = b.m.XYs[j], b.m.XYs[i]
	b.m.YErrors[i], b.m.YErrors[j] = b.m.YErrors[j], b.m.YErrors[i]
}

// addErrorBars draws pts' intervals in the series' colour; nothing when
// no point has one (single runs).
func addErrorBars(p *plot.Plot, pts meanPoints, pal palette, label string) error {
	if !slices.ContainsFunc(pts.YErrors, func(e struct{ Low, High float64 }) bool { return e.Low > 0 || e.High > 0 }) {
		return nil
	}
	eb, err := plotter.NewYErrorBars(pts)
	if err != nil {
		return fmt.Errorf("error bars %s: %w", label, err)
	}
	eb.LineStyle.Color, eb.LineStyle.Width, eb.CapWidth = pal.color(label), vg.Points(1.4), vg.Points(8)
	p.Add(eb)
	return nil
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
				// Series side by side within each metric's slot.
				off := 0.6 * (float64(i) - float64(n-1)/2) / float64(max(n, 1))
				pts.add(float64(x)+off, m.Summarize(reps).Summary)
			}
			if len(pts.XYs) == 0 {
				continue
			}
			s, err := plotter.NewScatter(pts.XYs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.ID, err)
			}
			s.Color, s.Shape, s.Radius = pal.color(r.Label), draw.CircleGlyph{}, vg.Points(3)
			p.Add(s)
			if err := addErrorBars(p, pts, pal, r.Label); err != nil {
				return nil, err
			}
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
