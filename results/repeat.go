package results

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/brokerbench/brokerbench/stats"
)

// Repeat places a result among the repetitions of its (workload, system)
// (run --repeat N) and, once every repetition is done, carries their
// summary. It is nil in single-run files, which are one repetition of one.
type Repeat struct {
	// Index is this repetition, from 1; Of is how many were asked for.
	Index int `json:"index"`
	Of    int `json:"of"`
	// Files are the result files of every repetition, in order, relative
	// to this file's folder; set with Summary.
	Files []string `json:"files,omitempty"`
	// Summary maps a metric name ([Metrics]) to every repetition's value
	// and their mean with its 95 % confidence interval, over the
	// repetitions with status ok. Absent while repetitions are still
	// running, or when the run was interrupted before the last one.
	Summary map[string]Figure `json:"summary,omitempty"`
}

// Figure is one metric over repetitions: the mean and its interval
// ([stats.Summarize]) and the values they came from.
type Figure struct {
	stats.Summary
	// Values are the repetitions' values, in repetition order.
	Values []float64 `json:"values"`
}

// FileName is the name of the repetition's result file: FileName of the
// workload and driver for a single run, with ".rep<k>" before ".json"
// when there are several repetitions.
func (p *Repeat) FileName(workload, driver string) string {
	name := FileName(workload, driver)
	if p == nil || p.Of <= 1 {
		return name
	}
	return strings.TrimSuffix(name, ".json") + ".rep" + strconv.Itoa(p.Index) + ".json"
}

// Repetition returns the result's place among its repetitions: 1 of 1 for
// a single run.
func (r *Result) Repetition() (index, of int) {
	if r.Repeat == nil || r.Repeat.Of < 1 {
		return 1, 1
	}
	return r.Repeat.Index, r.Repeat.Of
}

// Metric is a figure summarised over repetitions and compared between
// runs. Rates are means over the measured phase; latencies are the
// CO-corrected percentiles of the measured phase.
type Metric struct {
	// Name is the metric's key in files (Repeat.Summary, comparison.json).
	Name string
	// Label is its short column title, with the unit.
	Label string
	// Latency is true for latencies (lower is better; only comparable
	// between runs at the same achieved rate), false for rates.
	Latency bool
	value   func(r *Result) (float64, bool)
}

// Value returns r's value of the metric; false when r did not measure it
// (not a complete run, or no latency recorded).
func (m Metric) Value(r *Result) (float64, bool) {
	if !r.Complete() {
		return 0, false
	}
	return m.value(r)
}

// Values returns the values of the metric over rs, skipping results that
// did not measure it.
func (m Metric) Values(rs []*Result) []float64 {
	var out []float64
	for _, r := range rs {
		if v, ok := m.Value(r); ok {
			out = append(out, v)
		}
	}
	return out
}

// Summarize returns the metric over the repetitions rs.
func (m Metric) Summarize(rs []*Result) Figure {
	vs := m.Values(rs)
	return Figure{Summary: stats.Summarize(vs), Values: vs}
}

func rate(f func(publish, consume, mbps float64) float64) func(*Result) (float64, bool) {
	return func(r *Result) (float64, bool) {
		p, c, mbps, n := r.meanRates()
		return f(p, c, mbps), n > 0
	}
}

func latency(pick func(r *Result) (count int64, v float64)) func(*Result) (float64, bool) {
	return func(r *Result) (float64, bool) {
		n, v := pick(r)
		return v, n > 0
	}
}

// Metrics are the figures summarised over repetitions, in table order.
var Metrics = []Metric{
	{Name: "publishRate", Label: "pub msg/s", value: rate(func(p, _, _ float64) float64 { return p })},
	{Name: "publishMBps", Label: "pub MB/s", value: rate(func(_, _, mb float64) float64 { return mb })},
	{Name: "consumeRate", Label: "cons msg/s", value: rate(func(_, c, _ float64) float64 { return c })},
	{Name: "publishP50", Label: "pub p50 ms", Latency: true, value: latency(func(r *Result) (int64, float64) { return r.Latency.Publish.Count, r.Latency.Publish.P50 })},
	{Name: "publishP99", Label: "pub p99 ms", Latency: true, value: latency(func(r *Result) (int64, float64) { return r.Latency.Publish.Count, r.Latency.Publish.P99 })},
	{Name: "publishP999", Label: "pub p99.9 ms", Latency: true, value: latency(func(r *Result) (int64, float64) { return r.Latency.Publish.Count, r.Latency.Publish.P999 })},
	{Name: "endToEndP50", Label: "e2e p50 ms", Latency: true, value: latency(func(r *Result) (int64, float64) { return r.Latency.EndToEnd.Count, r.Latency.EndToEnd.P50 })},
	{Name: "endToEndP99", Label: "e2e p99 ms", Latency: true, value: latency(func(r *Result) (int64, float64) { return r.Latency.EndToEnd.Count, r.Latency.EndToEnd.P99 })},
	{Name: "endToEndP999", Label: "e2e p99.9 ms", Latency: true, value: latency(func(r *Result) (int64, float64) { return r.Latency.EndToEnd.Count, r.Latency.EndToEnd.P999 })},
}

// MetricByName returns the metric called name.
func MetricByName(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// Group is the repetitions of one (workload, system).
type Group struct {
	Workload, Driver string
	// Runs are the repetitions in the order given.
	Runs []*Result
}

// Groups groups rs by (workload, driver), in order of first appearance.
func Groups(rs []*Result) []Group {
	var out []Group
	idx := map[[2]string]int{}
	for _, r := range rs {
		k := [2]string{r.Workload, r.Driver}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Group{Workload: r.Workload, Driver: r.Driver})
		}
		out[i].Runs = append(out[i].Runs, r)
	}
	return out
}

// Summary returns what every repetition's Repeat carries once the group
// has run: the file names of all repetitions, in order, and each metric
// over them.
func (g Group) Summary() (files []string, summary map[string]Figure) {
	summary = map[string]Figure{}
	for _, m := range Metrics {
		summary[m.Name] = m.Summarize(g.Runs)
	}
	for _, r := range g.Runs {
		files = append(files, r.Repeat.FileName(r.Workload, r.Driver))
	}
	return files, summary
}

// FormatFigure prints a figure as "mean ± half-width" with the given
// decimals, the value alone for one repetition, and "-" when nothing was
// measured.
func FormatFigure(f stats.Summary, decimals int) string {
	switch {
	case f.N == 0:
		return "-"
	case !f.HasInterval():
		return strconv.FormatFloat(f.Mean, 'f', decimals, 64)
	}
	return fmt.Sprintf("%s ± %s", strconv.FormatFloat(f.Mean, 'f', decimals, 64), strconv.FormatFloat(f.HalfWidth(), 'f', decimals, 64))
}

// HeadlineMetrics name the metrics of the summary printed after a run and
// of report comparisons.
var HeadlineMetrics = []string{"publishRate", "consumeRate", "publishP50", "publishP99", "endToEndP50", "endToEndP99"}

// WriteRepeatTable prints what repetitions say about the figures of
// WriteTable: per (workload, system), how many repetitions were ok and
// each headline metric as "mean ± half-width" (95 % confidence). When
// every run is a single repetition it says so in one line instead. Either
// way it then lists the runs whose measured phase was unsteady.
func WriteRepeatTable(w io.Writer, rs []*Result) error {
	groups := Groups(rs)
	several := false
	for _, g := range groups {
		several = several || len(g.Runs) > 1
	}
	if !several && len(groups) > 0 {
		fmt.Fprintln(w, "\n1 repetition: no confidence interval (use --repeat 5 to measure the noise).")
	}
	if several {
		fmt.Fprintln(w, "\nMean ± 95% confidence half-width over repetitions:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		// Complete repetitions (ok or degraded) are the ones the means use.
		fmt.Fprint(tw, "workload\tsystem\tcomplete reps\t")
		for _, name := range HeadlineMetrics {
			m, _ := MetricByName(name)
			fmt.Fprint(tw, m.Label+"\t")
		}
		fmt.Fprintln(tw, "unsteady\t")
		for _, g := range groups {
			ok, unsteady := 0, 0
			for _, r := range g.Runs {
				if r.Complete() {
					ok++
				}
				if r.Steadiness != nil && r.Steadiness.Unsteady {
					unsteady++
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t", g.Workload, g.Driver, ok, len(g.Runs))
			for _, name := range HeadlineMetrics {
				m, _ := MetricByName(name)
				dec := 2
				if !m.Latency {
					dec = 0
				}
				fmt.Fprint(tw, FormatFigure(m.Summarize(g.Runs).Summary, dec)+"\t")
			}
			fmt.Fprintf(tw, "%d\t\n", unsteady)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, r := range rs {
		if n := r.UnsteadyNote(); n != "" {
			fmt.Fprintln(w, "UNSTEADY "+n)
		}
	}
	return nil
}
