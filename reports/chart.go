package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart is one figure of a report, drawn to a PNG file and to a PDF page.
type Chart struct {
	// ID is unique within its section and safe in file names
	// ("rate", "latency-dist-publish", ...).
	ID string
	// Title is the chart's title as drawn.
	Title string
	// File is the PNG file name, relative to the report folder; set when
	// the PNG is written.
	File string
	plot *plot.Plot
}

// Chart geometry: 180 mm fits the text width of an A4 page with 15 mm
// margins, so PNG and PDF show the same figure at the same scale.
const (
	chartWidth  = 180 * vg.Millimeter
	chartHeight = 110 * vg.Millimeter
	// pngDPI makes a 180 mm chart 1063 px wide: sharp on screen and in
	// print at A4 width.
	pngDPI = 150
	// maxPoints bounds each drawn series: PNG rendering time grows with
	// line complexity (library notes: 10k points take 14 s), and a chart
	// is 1000 px wide anyway.
	maxPoints = 1000
)

// palette assigns each series label one colour and dash pattern for the
// whole report, so "kafka" is the same colour in every chart.
type palette map[string]int

func newPalette(runs []*Run) palette {
	p := palette{}
	for _, l := range seriesLabels(runs) {
		p[l] = len(p)
	}
	return p
}

func (p palette) color(label string) color.Color { return plotutil.Color(p[label]) }

// sectionTitle is a chart title: the section and figure, then the
// workload's settings on a second line so every chart names them.
func sectionTitle(sec *Section, what string) string {
	t := sec.Name + ": " + what
	if w := durabilityWarning(sec.Runs); w != "" {
		t += "\n" + w
	}
	for _, r := range sec.Runs {
		if r.ok() {
			if sec.sweep {
				return t + "\n" + fmt.Sprintf("%d prod., %d cons., %d B messages, closed loop", r.ProducersPerTopic, r.ConsumersPerTopic, r.MessageSize)
			}
			return t + "\n" + r.settings()
		}
	}
	return t
}

// newPlot returns a plot with the house style: title, axis labels with
// units, legend at the top left, grid.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = ascii(title)
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Label.Text = ascii(xLabel)
	p.Y.Label.Text = ascii(yLabel)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.Add(plotter.NewGrid())
	return p
}

// addLine adds one series as a line; dashed selects a dash pattern so two
// figures of one series (p50 and p99) are told apart without colour.
func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashed bool) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(downsample(xys, maxPoints))
	if err != nil {
		return fmt.Errorf("line %s: %w", name, err)
	}
	l.Color = c
	l.Width = vg.Points(1.4)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l)
	p.Legend.Add(ascii(name), l)
	return nil
}

// renderPNG draws c at chart size.
func renderPNG(c *Chart) ([]byte, error) {
	img := vgimg.NewWith(vgimg.UseWH(chartWidth, chartHeight), vgimg.UseDPI(pngDPI))
	c.plot.Draw(draw.New(img))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode chart %s as PNG: %w", c.ID, err)
	}
	return buf.Bytes(), nil
}

// downsample reduces xys to at most n points with Largest-Triangle-Three-
// Buckets, which keeps the peaks and dips a reader looks for (a pause, a
// latency spike) where plain decimation would drop them.
func downsample(xys plotter.XYs, n int) plotter.XYs {
	if len(xys) <= n || n < 3 {
		return xys
	}
	out := make(plotter.XYs, 0, n)
	out = append(out, xys[0])
	bucket := float64(len(xys)-2) / float64(n-2)
	a := 0
	for i := range n - 2 {
		lo := int(float64(i)*bucket) + 1
		hi := int(float64(i+1)*bucket) + 1
		// The next bucket's average is the third vertex.
		nlo, nhi := hi, min(int(float64(i+2)*bucket)+1, len(xys))
		var ax, ay float64
		for _, p := range xys[nlo:nhi] {
			ax += p.X
			ay += p.Y
		}
		if k := float64(nhi - nlo); k > 0 {
			ax, ay = ax/k, ay/k
		}
		best, bestArea := lo, -1.0
		for j := lo; j < hi; j++ {
			area := math.Abs((xys[a].X-ax)*(xys[j].Y-xys[a].Y) - (xys[a].X-xys[j].X)*(ay-xys[a].Y))
			if area > bestArea {
				best, bestArea = j, area
			}
		}
		out = append(out, xys[best])
		a = best
	}
	return append(out, xys[len(xys)-1])
}

// span is a shaded x range of a time chart.
type span struct {
	From, To float64
	Color    color.Color
}

// shading draws vertical bands behind a plot's lines: warm-up, rebalances,
// fault windows, pauses. It has no data range of its own, so it never
// stretches the axes.
type shading []span

// Plot implements plot.Plotter.
func (s shading) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, sp := range s {
		x0 := max(trX(max(sp.From, p.X.Min)), c.Min.X)
		x1 := min(trX(min(sp.To, p.X.Max)), c.Max.X)
		if x1 <= x0 {
			// A zero-length event (one rebalance callback) still gets a
			// visible 3 pt band.
			if sp.To < p.X.Min || sp.From > p.X.Max {
				continue
			}
			x1 = x0 + vg.Points(3)
		}
		c.FillPolygon(sp.Color, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

// Shading colours, light so lines stay readable.
var (
	warmupShade    = color.NRGBA{R: 128, G: 128, B: 128, A: 40}
	rebalanceShade = color.NRGBA{R: 255, G: 140, B: 0, A: 110}
	faultShade     = color.NRGBA{R: 220, G: 30, B: 30, A: 55}
)

// legendSwatch is a legend thumbnail for a shading colour.
type legendSwatch struct{ c color.Color }

// Thumbnail implements plot.Thumbnailer.
func (s legendSwatch) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.c, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
}

// roomForLegend raises the y maximum so the legend, drawn inside the plot
// at the top left, does not cover the data: about 6% of the height per
// legend entry, at most doubling it.
func roomForLegend(p *plot.Plot, entries int) {
	if p.Y.Max <= p.Y.Min {
		return
	}
	f := math.Min(1, 0.065*float64(entries))
	p.Y.Max += (p.Y.Max - p.Y.Min) * f / (1 - f/2)
}
