package results

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// writeCapacity prints the saturation searches of a scenario: per run the
// found rate with its interval, confirmed repetitions, probes and why each
// search stopped (docs/capacity.md).
func writeCapacity(w io.Writer, g []*Result) error {
	o := g[0].Capacity.Objective
	fmt.Fprintf(w, "\n%s on %s: highest rate meeting %s\n", g[0].Scenario, g[0].Driver, o)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tfound msg/s\t95% CI\tconfirmed\tprobes\tstop\t")
	for _, r := range g {
		c := r.Capacity
		found, ci := "none", "-"
		if c.Found.N > 0 {
			found = fmt.Sprintf("%.0f", c.Found.Mean)
		}
		if c.Found.HasInterval() {
			ci = fmt.Sprintf("%.0f-%.0f", c.Found.Low, c.Found.High)
		}
		probes, stops := 0, ""
		for i, s := range c.Repetitions {
			probes += len(s.Probes)
			if i > 0 {
				stops += ","
			}
			stops += s.Stop
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d of %d\t%d\t%s\t\n", sweepLabel(r), found, ci, c.Found.N, len(c.Repetitions), probes, stops)
	}
	return tw.Flush()
}
