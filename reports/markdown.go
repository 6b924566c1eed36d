package reports

import (
	"bytes"
	"fmt"
	"strings"
)

// markdown renders summary.md, short enough for a CI comment: one table of
// every run, the comparison and plan tables, and where the charts are.
func (rep *report) markdown() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# brokerbench summary\n\n")
	fmt.Fprintf(&b, "Results of %s, %s, sets: %s.\n", rep.reportDate().Format("2006-01-02 15:04 UTC"), rep.toolVersion(), strings.Join(setLabels(rep.opts.In), ", "))
	fmt.Fprintf(&b, "Latencies in ms from the intended send time (corrected for coordinated omission).\n\n")
	mdTable(&b, overallTable(rep.secs), 2)
	if len(rep.ratios) > 0 {
		fmt.Fprintf(&b, "## Comparison\n\n")
		for _, t := range rep.ratios {
			mdTable(&b, t, 3)
		}
	}
	if len(rep.plan) > 0 {
		fmt.Fprintf(&b, "## Capacity\n\n")
		for _, t := range rep.plan {
			mdTable(&b, t, 3)
		}
	}
	var bad []string
	for _, r := range rep.runs {
		if v := verdict(r); !passed(v) {
			rep := ""
			if i, n := r.Repetition(); n > 1 {
				rep = fmt.Sprintf(" (repetition %d of %d)", i, n)
			}
			bad = append(bad, fmt.Sprintf("- %s on %s%s: %s", r.Workload, r.Label, rep, v))
		}
		for _, v := range visualizations(r) {
			bad = append(bad, fmt.Sprintf("  - porcupine visualization: `%s`", relLink(rep.opts.Out, v)))
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(&b, "## Needs attention\n\n%s\n\n", strings.Join(bad, "\n"))
	}
	fmt.Fprintf(&b, "Charts: `index.html` (%d PNG charts) and `report.pdf` in the report folder.\n", rep.chartCount())
	return b.Bytes(), nil
}

func (rep *report) chartCount() int {
	n := 0
	for _, s := range rep.secs {
		n += len(s.Charts)
	}
	return n
}

// mdTable writes t as a GitHub-flavoured Markdown table under a heading of
// the given level.
func mdTable(b *bytes.Buffer, t table, level int) {
	fmt.Fprintf(b, "%s %s\n\n", strings.Repeat("#", level), t.Title)
	fmt.Fprintf(b, "| %s |\n|", strings.Join(t.Header, " | "))
	for i := range t.Header {
		if i == 0 {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = strings.ReplaceAll(c, "|", "\\|")
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
	}
	b.WriteString("\n")
	for _, n := range t.Notes {
		fmt.Fprintf(b, "%s\n\n", n)
	}
}
