package reports

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/brokerbench/brokerbench/capacity"
)

// Capacity chart colours: the objective line and the fit's band.
var (
	objectiveColor = color.NRGBA{R: 200, G: 30, B: 30, A: 255}
	bandColor      = color.NRGBA{R: 70, G: 110, B: 200, A: 60}
)

// capacityCharts: per scenario, the hockey stick (latency against offered
// rate with the objective and the found rate) and, for a sweep, the found
// rates against N with the USL fit and its band.
func capacityCharts(sec *Section, _ palette) ([]*Chart, error) {
	var out []*Chart
	for _, c := range sec.capacity.Scenarios {
		h, err := hockeyChart(sec, c)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
		if c.Axis != "" {
			f, err := sweepFitChart(sec, c)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// pointName is a run's name within its scenario: its sweep values, as
// the workload name carries them ("partitionsPerTopic=4").
func pointName(r *Run) string {
	_, sweep, ok := strings.Cut(r.Workload, "[")
	if !ok {
		return r.Scenario
	}
	return strings.TrimSuffix(sweep, "]")
}

// hockeyChart draws every probe of a scenario: the objective's percentile
// (solid) and p50 (dashed) against the offered rate, one colour per sweep
// point, each probe a dot and the line through the median at each rate
// (repetitions probe some rates twice), the objective as a red line and
// each found rate as a triangle.
func hockeyChart(sec *Section, c *capScenario) (*Chart, error) {
	o := c.Runs[0].Capacity.Objective
	pct := "p" + strconv.FormatFloat(o.Percentile, 'f', -1, 64)
	ch := &Chart{ID: "hockey-" + fileSafe(c.Name), Title: sec.Name + ": " + c.Name + ": latency against offered rate (hockey stick)\n" +
		ascii(o.String()) + "; dots: every probe, lines: median per rate"}
	p := newPlot(ch.Title, "offered rate (msg/s, open loop)", "latency (ms, from the intended send time)")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	xmin, xmax := math.Inf(1), 0.0
	for i, r := range c.Runs {
		probes := r.Capacity.Probes()
		col := plotutil.Color(i)
		atDots, atMed := probeSeries(probes, func(pr capacity.Probe) float64 { return pr.AtObjective })
		p50Dots, p50Med := probeSeries(probes, func(pr capacity.Probe) float64 { return pr.P50 })
		for _, pr := range probes {
			xmin, xmax = math.Min(xmin, pr.Offered), math.Max(xmax, pr.Offered)
		}
		name := pointName(r)
		if f := r.Capacity.Found; f.N > 0 {
			name += ": found " + fmtRate(f.Mean) + " msg/s"
		} else {
			name += ": no rate confirmed"
		}
		l, err := hockeyLine(p, atDots, atMed, col, false)
		if err != nil {
			return nil, err
		}
		if _, err := hockeyLine(p, p50Dots, p50Med, col, true); err != nil {
			return nil, err
		}
		if l != nil {
			p.Legend.Add(ascii(name), l)
		}
		if r.Capacity.Found.N > 0 {
			if err := foundMark(p, r, col); err != nil {
				return nil, err
			}
		}
	}
	if xmax == 0 {
		p.Title.Text += " - no probes"
		ch.plot = p
		return ch, nil
	}
	slo := plotter.NewFunction(func(float64) float64 { return o.BelowMs })
	slo.XMin, slo.XMax = xmin, xmax
	slo.Color, slo.Width, slo.Dashes = objectiveColor, vg.Points(1.5), []vg.Length{vg.Points(6), vg.Points(3)}
	p.Add(slo)
	p.Legend.Add(ascii(fmt.Sprintf("objective: %s < %s ms (solid: %s, dashed: p50)", pct, strconv.FormatFloat(o.BelowMs, 'f', -1, 64), pct)), slo)
	p.Y.Max = math.Max(p.Y.Max, 2*o.BelowMs)
	logRoomForLegend(p, len(c.Runs)+1)
	ch.plot = p
	return ch, nil
}

// probeSeries returns every probe's value (positive ones: a log axis) and
// the median value at each offered rate, both ordered by rate.
func probeSeries(probes []capacity.Probe, v func(capacity.Probe) float64) (dots, medians plotter.XYs) {
	byRate := map[float64][]float64{}
	for _, pr := range probes {
		if y := v(pr); y > 0 && !math.IsNaN(y) {
			dots = append(dots, plotter.XY{X: pr.Offered, Y: y})
			byRate[pr.Offered] = append(byRate[pr.Offered], y)
		}
	}
	for x, ys := range byRate {
		slices.Sort(ys)
		m := ys[len(ys)/2]
		if len(ys)%2 == 0 {
			m = (ys[len(ys)/2-1] + m) / 2
		}
		medians = append(medians, plotter.XY{X: x, Y: m})
	}
	slices.SortFunc(medians, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	return dots, medians
}

// hockeyLine draws the dots and the median line of one series; it returns
// the line for the legend (nil when there is nothing to draw).
func hockeyLine(p *plot.Plot, dots, medians plotter.XYs, col color.Color, dashed bool) (*plotter.Line, error) {
	if len(dots) == 0 {
		return nil, nil
	}
	s, err := plotter.NewScatter(dots)
	if err != nil {
		return nil, fmt.Errorf("probes: %w", err)
	}
	s.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
	if dashed {
		s.GlyphStyle.Shape = draw.RingGlyph{}
	}
	l, err := plotter.NewLine(medians)
	if err != nil {
		return nil, fmt.Errorf("median line: %w", err)
	}
	l.Color, l.Width = col, vg.Points(1.3)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l, s)
	return l, nil
}

// logRoomForLegend is roomForLegend for a log y axis: it raises the
// maximum by a share of the axis's decades.
func logRoomForLegend(p *plot.Plot, entries int) {
	if p.Y.Min <= 0 || p.Y.Max <= p.Y.Min {
		return
	}
	f := math.Min(1, 0.065*float64(entries))
	lo, hi := math.Log10(p.Y.Min), math.Log10(p.Y.Max)
	p.Y.Max = math.Pow(10, hi+(hi-lo)*f/(1-f/2))
}

// foundMark marks the found rate (mean) at the latency of the passing
// confirmation probe closest to it.
func foundMark(p *plot.Plot, r *Run, col color.Color) error {
	found := r.Capacity.Found.Mean
	y, best := math.NaN(), math.Inf(1)
	for _, pr := range r.Capacity.Probes() {
		if pr.Phase == capacity.PhaseConfirm && pr.Passed() && pr.AtObjective > 0 && math.Abs(pr.Offered-found) < best {
			y, best = pr.AtObjective, math.Abs(pr.Offered-found)
		}
	}
	if math.IsNaN(y) {
		return nil
	}
	s, err := plotter.NewScatter(plotter.XYs{{X: found, Y: y}})
	if err != nil {
		return fmt.Errorf("found mark: %w", err)
	}
	s.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(6), Shape: draw.PyramidGlyph{}}
	p.Add(s)
	return nil
}

// errPoints are found rates with their interval as error bars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// sweepFitChart draws the found rate at each N with its 95% interval as
// error bars, every repetition as a dot, the fitted USL curve and its
// 95% band.
func sweepFitChart(sec *Section, c *capScenario) (*Chart, error) {
	ch := &Chart{ID: "usl-" + fileSafe(c.Name), Title: sec.Name + ": " + c.Name + ": found rate against " + c.Axis + " with the USL fit"}
	if f := c.Fit; f != nil {
		ch.Title += ascii(fmt.Sprintf("\nsigma %s, kappa %s, R2 %.2f, N* %s, X_max %s msg/s (intervals in the fit table)",
			fmtSmall(capacity.Param{Value: f.Sigma.Value}), fmtSmall(capacity.Param{Value: f.Kappa.Value}), f.R2,
			fmtPeakParam(capacity.Param{Value: f.Peak.Value}), fmtParam(capacity.Param{Value: f.XMax.Value})))
	}
	p := newPlot(ch.Title, c.Axis, "found rate (msg/s) at the objective")
	var pts errPoints
	var reps plotter.XYs
	maxN := 0.0
	for _, r := range c.Runs {
		n, f := axisValue(r, c.Axis), r.Capacity.Found
		maxN = math.Max(maxN, n)
		for _, x := range r.Capacity.Confirmed() {
			reps = append(reps, plotter.XY{X: n, Y: x})
		}
		if f.N == 0 {
			continue
		}
		pts.XYs = append(pts.XYs, plotter.XY{X: n, Y: f.Mean})
		pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{Low: f.Mean - f.Low, High: f.High - f.Mean})
	}
	if f := c.Fit; f != nil {
		if err := fitCurve(p, f, maxN); err != nil {
			return nil, err
		}
		if f.Flat {
			p.Title.Text += "\nFLAT: sigma near 1, the setup is serialized"
		}
	} else if c.FitErr != nil {
		p.Title.Text += "\n" + ascii(c.FitErr.Error())
	}
	if len(reps) > 0 {
		s, err := plotter.NewScatter(reps)
		if err != nil {
			return nil, fmt.Errorf("repetitions: %w", err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: color.Gray{Y: 110}, Radius: vg.Points(1.8), Shape: draw.CircleGlyph{}}
		p.Add(s)
		p.Legend.Add("each repetition", s)
	}
	if len(pts.XYs) > 0 {
		s, err := plotter.NewScatter(pts.XYs)
		if err != nil {
			return nil, fmt.Errorf("found rates: %w", err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, fmt.Errorf("error bars: %w", err)
		}
		p.Add(bars, s)
		p.Legend.Add("found rate, mean and 95% CI", s)
	}
	var ticks plot.ConstantTicks
	for _, r := range c.Runs {
		n := axisValue(r, c.Axis)
		if !slices.ContainsFunc(ticks, func(t plot.Tick) bool { return t.Value == n }) {
			ticks = append(ticks, plot.Tick{Value: n, Label: strconv.FormatFloat(n, 'f', -1, 64)})
		}
	}
	p.X.Tick.Marker = ticks
	p.X.Min, p.Y.Min = 0, 0
	roomForLegend(p, 4)
	ch.plot = p
	return ch, nil
}

// fitCurve adds the fitted curve over [1, 1.25 x maxN] and its band.
func fitCurve(p *plot.Plot, f *capacity.Fit, maxN float64) error {
	const steps = 60
	hi := maxN * 1.25
	var curve, upper, lower plotter.XYs
	for i := range steps + 1 {
		n := 1 + (hi-1)*float64(i)/steps
		curve = append(curve, plotter.XY{X: n, Y: f.At(n)})
		lo, up := f.Band(n)
		upper = append(upper, plotter.XY{X: n, Y: up})
		lower = append(lower, plotter.XY{X: n, Y: lo})
	}
	if f.Intervals {
		ring := append(slices.Clone(upper), reversed(lower)...)
		band, err := plotter.NewPolygon(ring)
		if err != nil {
			return fmt.Errorf("fit band: %w", err)
		}
		band.Color, band.LineStyle.Width = bandColor, 0
		p.Add(band)
		p.Legend.Add("95% band of the fit", band)
	}
	l, err := plotter.NewLine(curve)
	if err != nil {
		return fmt.Errorf("fit curve: %w", err)
	}
	l.Color, l.Width = color.NRGBA{R: 40, G: 70, B: 170, A: 255}, vg.Points(1.6)
	p.Add(l)
	p.Legend.Add("USL fit (parameters in the title)", l)
	return nil
}

func reversed(xys plotter.XYs) plotter.XYs {
	out := slices.Clone(xys)
	slices.Reverse(out)
	return out
}
