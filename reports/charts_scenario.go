package reports

import (
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/brokerbench/brokerbench/stats"
)

// sweepCharts: total and per-partition throughput (MB/s) against the
// partition count, one line with points per system.
func sweepCharts(sec *Section, pal palette) ([]*Chart, error) {
	total := &Chart{ID: "sweep-total", Title: sectionTitle(sec, "total publish throughput by partition count")}
	per := &Chart{ID: "sweep-per-partition", Title: sectionTitle(sec, "per-partition publish throughput by partition count")}
	pt := newPlot(total.Title, "partitions per topic", "throughput (MB/s)")
	pp := newPlot(per.Title, "partitions per topic", "throughput per partition (MB/s)")
	// Each point is the mean over the point's ok repetitions, with an
	// error bar for its 95 % confidence interval when there are several.
	byLabel := map[string]*meanPoints{}
	perLabel := map[string]*meanPoints{}
	var order []string
	for _, r := range sec.Runs {
		if _, seen := byLabel[r.Label]; !seen {
			order = append(order, r.Label)
			byLabel[r.Label], perLabel[r.Label] = &meanPoints{}, &meanPoints{}
		}
		var totals, pers []float64
		for _, x := range okRuns(sec.Reps[sweepPointKey(r)]) {
			totals = append(totals, x.D.PublishMBps)
			pers = append(pers, x.D.PerPartitionRate*float64(x.MessageSize)/1e6)
		}
		byLabel[r.Label].add(float64(r.Partitions), stats.Summarize(totals))
		perLabel[r.Label].add(float64(r.Partitions), stats.Summarize(pers))
	}
	var ticks plot.ConstantTicks
	seen := map[int]bool{}
	for _, r := range sec.Runs {
		if !seen[r.Partitions] {
			seen[r.Partitions] = true
			ticks = append(ticks, plot.Tick{Value: float64(r.Partitions), Label: strconv.Itoa(r.Partitions)})
		}
	}
	for _, l := range order {
		name := l + " (" + fmt.Sprintf("%d B msgs", sec.Runs[0].MessageSize) + ")"
		for _, x := range []struct {
			p   *plot.Plot
			pts *meanPoints
		}{{pt, byLabel[l]}, {pp, perLabel[l]}} {
			x.pts.sortByX()
			if err := addLinePoints(x.p, name, x.pts.XYs, pal, l); err != nil {
				return nil, err
			}
			if err := addErrorBars(x.p, *x.pts, pal, l); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range []*plot.Plot{pt, pp} {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = ticks
		p.Y.Min = 0
		roomForLegend(p, len(order))
	}
	total.plot, per.plot = pt, pp
	return []*Chart{total, per}, nil
}

func addLinePoints(p *plot.Plot, name string, xys plotter.XYs, pal palette, label string) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("line %s: %w", name, err)
	}
	l.Color, s.Color = pal.color(label), pal.color(label)
	l.Width = vg.Points(1.4)
	s.Shape = draw.CircleGlyph{}
	p.Add(l, s)
	p.Legend.Add(ascii(name), l, s)
	return nil
}

// barGroups draws one group of bars per category (partition, check) with
// one bar per series, side by side.
func barGroups(p *plot.Plot, names []string, values []plotter.Values, colors []int, pal palette, labels []string) error {
	n := len(values)
	if n == 0 {
		return nil
	}
	w := vg.Points(math.Max(2, math.Min(14, 300/float64(n*len(values[0])+1))))
	for i, vs := range values {
		b, err := plotter.NewBarChart(vs, w)
		if err != nil {
			return fmt.Errorf("bars %s: %w", names[i], err)
		}
		b.Color = pal.color(labels[colors[i]])
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(float64(i)-float64(n-1)/2)
		p.Add(b)
		p.Legend.Add(ascii(names[i]), b)
	}
	return nil
}

// hotKeyCharts: messages per partition during the measured phase with the
// skew ratio (max/mean) in the legend, and the per-partition lag at the
// end of the run (broker-reported where the system reports it, else
// client-side).
func hotKeyCharts(sec *Section, pal palette) ([]*Chart, error) {
	runs := partitionRuns(sec.Runs)
	if len(runs) == 0 {
		return nil, nil
	}
	msgs := &Chart{ID: "partitions", Title: sectionTitle(sec, "messages per partition (measured phase)")}
	lag := &Chart{ID: "partition-lag", Title: sectionTitle(sec, "lag per partition at end of measurement")}
	pm := newPlot(msgs.Title, "partition", "messages")
	pl := newPlot(lag.Title, "partition", "lag (messages)")
	var names, lagNames []string
	var mv, lv []plotter.Values
	var colors []int
	labels := seriesLabels(runs)
	for i, r := range runs {
		m, l := make(plotter.Values, len(r.PartitionsDetail)), make(plotter.Values, len(r.PartitionsDetail))
		broker := true
		for _, pd := range r.PartitionsDetail {
			broker = broker && pd.BrokerLag >= 0
		}
		for j, pd := range r.PartitionsDetail {
			m[j] = float64(pd.MeasuredSent)
			if broker {
				l[j] = float64(pd.BrokerLag)
			} else {
				l[j] = math.Max(0, float64(pd.ClientLag))
			}
		}
		names = append(names, fmt.Sprintf("%s: skew %.2fx (max/mean)", r.legend(), r.D.Skew))
		kind := "broker-reported"
		if !broker {
			kind = "client-side"
		}
		lagNames = append(lagNames, r.legend()+": "+kind)
		mv, lv = append(mv, m), append(lv, l)
		colors = append(colors, i)
	}
	if err := barGroups(pm, names, mv, colors, pal, labels); err != nil {
		return nil, err
	}
	if err := barGroups(pl, lagNames, lv, colors, pal, labels); err != nil {
		return nil, err
	}
	pn := make([]string, len(runs[0].PartitionsDetail))
	for i, pd := range runs[0].PartitionsDetail {
		pn[i] = strconv.Itoa(int(pd.Partition))
	}
	pm.NominalX(pn...)
	pl.NominalX(pn...)
	pm.Y.Min, pl.Y.Min = 0, 0
	roomForLegend(pm, len(runs))
	roomForLegend(pl, len(runs))
	msgs.plot, lag.plot = pm, pl
	return []*Chart{msgs, lag}, nil
}

// partitionRuns are the ok runs whose partition list matches the first
// one's length, so bars line up by partition.
func partitionRuns(runs []*Run) []*Run {
	var out []*Run
	for _, r := range runs {
		if r.ok() && len(r.PartitionsDetail) > 0 && (len(out) == 0 || len(r.PartitionsDetail) == len(out[0].PartitionsDetail)) {
			out = append(out, r)
		}
	}
	return out
}

// pauseChart: the consumption timeline of a rebalance storm. Each pause
// is a horizontal bar from its start to its end at its partition's row
// (offset per system), labelled with its length; the consume rate is in
// the rate chart of the same section.
func pauseChart(sec *Section, pal palette) (*Chart, error) {
	c := &Chart{ID: "pauses", Title: sectionTitle(sec, "consumption pauses (bar = pause, label = length)")}
	p := newPlot(c.Title, timeXLabel, "partition")
	addShading(p, sec.Runs)
	runs := okRuns(sec.Runs)
	any := false
	for i, r := range runs {
		off := 0.0
		if len(runs) > 1 {
			off = 0.6 * (float64(i)/float64(len(runs)-1) - 0.5)
		}
		var lxy plotter.XYLabels
		for _, ps := range r.Pauses {
			y := float64(ps.Partition) + off
			seg := plotter.XYs{{X: ps.Elapsed, Y: y}, {X: ps.Elapsed + ps.Duration, Y: y}}
			l, err := plotter.NewLine(seg)
			if err != nil {
				return nil, fmt.Errorf("pause bar: %w", err)
			}
			l.Color, l.Width = pal.color(r.Label), vg.Points(5)
			p.Add(l)
			lxy.XYs = append(lxy.XYs, plotter.XY{X: ps.Elapsed + ps.Duration, Y: y})
			lxy.Labels = append(lxy.Labels, fmt.Sprintf(" %.2fs", ps.Duration))
		}
		name := fmt.Sprintf("%s: %d pauses, max %.2fs, total %.2fs", r.legend(), r.D.Pauses, r.D.MaxPause, r.D.TotalPause)
		p.Legend.Add(ascii(name), legendSwatch{pal.color(r.Label)})
		if len(lxy.XYs) == 0 {
			continue
		}
		any = true
		labels, err := plotter.NewLabels(lxy)
		if err != nil {
			return nil, fmt.Errorf("pause labels: %w", err)
		}
		for j := range labels.TextStyle {
			labels.TextStyle[j].Font.Size = vg.Points(7)
		}
		p.Add(labels)
	}
	if !any {
		p.Title.Text += " - none recorded"
	}
	p.Y.Min = -0.5
	if n := maxPartitions(runs); n > 0 {
		p.Y.Max = float64(n) - 0.5
		var ticks plot.ConstantTicks
		for i := range n {
			ticks = append(ticks, plot.Tick{Value: float64(i), Label: strconv.Itoa(i)})
		}
		p.Y.Tick.Marker = ticks
	}
	roomForLegend(p, len(runs)+2)
	if len(runs) > 0 {
		p.X.Max = math.Max(p.X.Max, lastElapsed(runs[0]))
		p.X.Min = math.Min(p.X.Min, 0)
	}
	c.plot = p
	return c, nil
}

func maxPartitions(runs []*Run) int {
	n := 0
	for _, r := range runs {
		n = max(n, r.Partitions)
	}
	return n
}
