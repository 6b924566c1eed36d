package reports

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/brokerbench/brokerbench/metrics"
)

// percentileTicks label the 1/(1-p) axis as percentiles.
var percentileTicks = plot.ConstantTicks{
	{Value: 2, Label: "50%"}, {Value: 10, Label: "90%"},
	{Value: 100, Label: "99%"}, {Value: 1e3, Label: "99.9%"}, {Value: 1e4, Label: "99.99%"},
	{Value: 1e5, Label: "99.999%"},
}

// distPoints is how many points a percentile curve has: evenly spaced in
// log(1/(1-p)), enough for a smooth curve and cheap to render.
const distPoints = 120

// percentileCurve returns (1/(1-p), latency ms) from an encoded HDR
// histogram (microseconds). The curve stops where the histogram has fewer
// than one value beyond p (1/(1-p) > count), and never includes p = 100%,
// whose x is infinite and would panic a log axis.
func percentileCurve(encoded string) (plotter.XYs, error) {
	h, err := metrics.Decode(encoded)
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	n := h.TotalCount()
	if n == 0 {
		return nil, nil
	}
	maxX := math.Min(float64(n), 1e5)
	if maxX < 2 {
		maxX = 2
	}
	xys := make(plotter.XYs, 0, distPoints)
	for i := range distPoints {
		x := math.Pow(maxX, float64(i)/float64(distPoints-1))
		q := 100 * (1 - 1/x)
		xys = append(xys, plotter.XY{X: x, Y: float64(h.ValueAtQuantile(q)) / 1000})
	}
	return xys, nil
}

// quantileCurve is the fallback for files without histograms (OMB's): the
// aggregated quantile map, "99.9" -> ms, without the 100 key.
func quantileCurve(m map[string]float64) plotter.XYs {
	var xys plotter.XYs
	for k, v := range m {
		q, err := strconv.ParseFloat(k, 64)
		if err != nil || q >= 100 || q < 0 {
			continue
		}
		xys = append(xys, plotter.XY{X: 1 / (1 - q/100), Y: v})
	}
	sort.Slice(xys, func(i, j int) bool { return xys[i].X < xys[j].X })
	return xys
}

// distChart draws the percentile distribution of one latency kind, one
// line per system, on a log 1/(1-p) axis. kind is "publish" (corrected
// publish latency) or "e2e" (corrected end-to-end latency).
func distChart(sec *Section, pal palette, kind string) (*Chart, error) {
	title := sectionTitle(sec, "publish latency by percentile (CO-corrected)")
	if kind == "e2e" {
		title = sectionTitle(sec, "end-to-end latency by percentile (CO-corrected)")
	}
	c := &Chart{ID: "latency-dist-" + kind, Title: title}
	p := newPercentilePlot(title, "latency (ms)")
	lines := 0
	for _, r := range sec.Runs {
		if !r.ok() {
			continue
		}
		xys, err := runCurve(r, kind)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", r.Workload, r.Driver, err)
		}
		if len(xys) == 0 {
			continue
		}
		if err := addLine(p, r.legend(), xys, pal.color(r.Label), false); err != nil {
			return nil, err
		}
		lines++
	}
	if lines == 0 {
		return nil, nil // nothing recorded, e.g. end-to-end of a produce-only run
	}
	p.Y.Min = 0
	p.X.Max = math.Max(p.X.Max, 10)
	roomForLegend(p, lines)
	c.plot = p
	return c, nil
}

// newPercentilePlot is a plot with a log 1/(1-p) x axis labelled as
// percentiles.
func newPercentilePlot(title, yLabel string) *plot.Plot {
	p := newPlot(title, "percentile (log scale of 1/(1-p))", yLabel)
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks
	p.X.Min = 1
	return p
}

func runCurve(r *Run, kind string) (plotter.XYs, error) {
	enc, fallback := r.Histograms.Publish, r.AggregatedPublishLatencyQuantiles
	if kind == "e2e" {
		enc, fallback = r.Histograms.EndToEnd, r.AggregatedEndToEndLatencyQuantiles
	}
	if enc != "" {
		return percentileCurve(enc)
	}
	// OMB files: their quantiles are from the actual send, not corrected;
	// still the best figure such a file has.
	return quantileCurve(fallback), nil
}
