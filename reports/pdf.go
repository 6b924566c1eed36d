package reports

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgpdf"
)

// A4 portrait with 15 mm margins; charts are chartWidth wide, so two fit
// on a page under a heading.
const (
	pageWidth  = 210 * vg.Millimeter
	pageHeight = 297 * vg.Millimeter
	margin     = 15 * vg.Millimeter
)

// pdfDoc lays out text lines top-down and starts a new page when one is
// full. Page numbers count from 1 (vgpdf opens the first page itself).
type pdfDoc struct {
	c     *vgpdf.Canvas
	y     vg.Length // baseline of the next line, from the bottom
	pages int
}

func newPDFDoc() *pdfDoc {
	c := vgpdf.New(pageWidth, pageHeight)
	return &pdfDoc{c: c, y: pageHeight - margin, pages: 1}
}

func (d *pdfDoc) nextPage() {
	d.c.NextPage()
	d.pages++
	d.y = pageHeight - margin
}

// face returns the Liberation face of a variant ("Sans", "Mono").
// Headings use the Serif variant rather than bold: vgpdf v0.17.0 registers
// an embedded font under style "" but selects bold with style "B", which
// fails with "undefined font: liberationsans-bold B".
func face(variant font.Variant, heading bool, size vg.Length) font.Face {
	f := font.Font{Typeface: "Liberation", Variant: variant}
	if heading {
		f.Variant = "Serif"
	}
	return font.DefaultCache.Lookup(f, size)
}

// text draws one line, breaking the page first when it would not fit.
func (d *pdfDoc) text(f font.Face, s string) {
	h := f.Font.Size * 1.35
	if d.y-h < margin {
		d.nextPage()
	}
	d.y -= h
	d.c.FillString(f, vg.Point{X: margin, Y: d.y}, ascii(s))
}

// space adds vertical space, without breaking the page.
func (d *pdfDoc) space(l vg.Length) { d.y -= l }

// wrap splits s into lines of at most n characters at spaces.
func wrap(s string, n int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > n {
			lines = append(lines, line)
			line = "  "
		}
		if line != "" && line != "  " {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// table draws t in a monospaced font sized so the widest row fits the
// text width, with notes wrapped below.
func (d *pdfDoc) table(t table) {
	widths := colWidths(t)
	chars := len(widths) * 2
	for _, w := range widths {
		chars += w
	}
	// Liberation Mono's advance is 0.6 em.
	size := min(vg.Points(8.5), (pageWidth-2*margin)/(0.6*vg.Length(chars)))
	mono := face("Mono", false, size)
	need := (vg.Length(len(t.Rows)+3) * size * 1.35) + 14
	if d.y-need < margin && d.y < pageHeight-margin-1 {
		d.nextPage() // keep a table on one page when it fits on one
	}
	d.text(face("Sans", true, 11), t.Title)
	d.text(mono, padRow(t.Header, widths))
	d.text(mono, strings.Repeat("-", chars))
	for _, r := range t.Rows {
		d.text(mono, padRow(r, widths))
	}
	noteFace := face("Sans", false, 8)
	perLine := 125 // characters of 8 pt Liberation Sans across the text width
	for _, n := range t.Notes {
		for _, l := range wrap(n, perLine) {
			d.text(noteFace, l)
		}
	}
	d.space(10)
}

func colWidths(t table) []int {
	w := make([]int, len(t.Header))
	for i, h := range t.Header {
		w[i] = len(h)
	}
	for _, r := range t.Rows {
		for i, c := range r {
			if i < len(w) {
				w[i] = max(w[i], len(ascii(c)))
			}
		}
	}
	return w
}

func padRow(cells []string, widths []int) string {
	var b strings.Builder
	for i, c := range cells {
		if i >= len(widths) {
			break
		}
		if i == 0 {
			fmt.Fprintf(&b, "%-*s  ", widths[i], ascii(c))
		} else {
			fmt.Fprintf(&b, "%*s  ", widths[i], ascii(c))
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// writePDF writes the whole report as one PDF and returns its page count.
func (rep *report) writePDF(ctx context.Context, path string) (int, error) {
	d := newPDFDoc()
	rep.titlePage(d)
	d.nextPage()
	d.text(face("Sans", true, 16), "Summary by workload")
	d.space(6)
	for _, t := range rep.tables {
		d.table(t)
	}
	for _, group := range [][]table{rep.ratios, rep.plan} {
		if len(group) == 0 {
			continue
		}
		d.nextPage()
		for _, t := range group {
			d.table(t)
		}
	}
	if p := rep.planText; p != nil {
		var b bytes.Buffer
		if err := p.WriteText(&b); err != nil {
			return 0, fmt.Errorf("plan text: %w", err)
		}
		f := face("Sans", false, 8)
		for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			for _, w := range wrap(l, 120) {
				d.text(f, w)
			}
		}
	}
	for _, sec := range rep.secs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		rep.chartPages(d, sec)
	}
	var buf bytes.Buffer
	if _, err := d.c.WriteTo(&buf); err != nil {
		return 0, fmt.Errorf("encode PDF %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return 0, fmt.Errorf("write PDF %s: %w", path, err)
	}
	return d.pages, nil
}

// chartPages draws a section's charts two to a page under its name.
func (rep *report) chartPages(d *pdfDoc, sec *Section) {
	for i, c := range sec.Charts {
		if i%2 == 0 {
			d.nextPage()
			d.text(face("Sans", true, 13), sec.Name)
			if i > 0 {
				d.text(face("Sans", false, 9), "(continued)")
			}
			d.space(4)
		}
		top := d.y - 4
		area := draw.Canvas{Canvas: d.c, Rectangle: vg.Rectangle{
			Min: vg.Point{X: margin, Y: top - chartHeight},
			Max: vg.Point{X: margin + chartWidth, Y: top},
		}}
		c.plot.Draw(area)
		d.y = top - chartHeight - 8
	}
}

// titlePage: date, tool version, systems and versions, host, inputs and
// the list of sections.
func (rep *report) titlePage(d *pdfDoc) {
	d.space(60)
	d.text(face("Sans", true, 26), "brokerbench report")
	d.space(10)
	body := face("Sans", false, 11)
	head := face("Sans", true, 12)
	d.text(body, "Date of the results: "+rep.reportDate().Format("2006-01-02 15:04 UTC"))
	d.text(body, "Tool: "+rep.toolVersion())
	d.text(body, fmt.Sprintf("Result sets: %s (%d results)", strings.Join(setLabels(rep.opts.In), ", "), len(rep.runs)))
	d.space(10)
	d.text(head, "Systems and versions")
	for _, s := range rep.systems() {
		d.text(body, "  "+s)
	}
	d.space(10)
	d.text(head, "Host")
	for _, h := range rep.hosts() {
		d.text(body, "  "+h)
	}
	d.space(10)
	d.text(head, "Contents")
	d.text(body, "  Summary by workload; comparison and capacity plan where present; then the charts of:")
	for _, sec := range rep.secs {
		d.text(body, fmt.Sprintf("  - %s (%d charts)", sec.Name, len(sec.Charts)))
	}
}
