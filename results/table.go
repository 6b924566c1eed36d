package results

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/brokerbench/brokerbench/metrics"
)

// WriteTable prints the end-of-run summary: one row per result with its
// status, achieved and offered publish rate, failed sends, the corrected
// publish and end-to-end latency percentiles and the delivery counts a
// reader needs to trust the figures; then why each run that is not ok has
// its status. A p99 the load generator's own hiccups explain
// ([GeneratorExplains]) is marked "!".
func WriteTable(w io.Writer, rs []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tsystem\tstatus\tpub msg/s\toffered\tpub MB/s\tcons msg/s\tfailed\tpub p50 ms\tpub p99 ms\te2e p50 ms\te2e p99 ms\tlost\tdup\treorder\tlate\t")
	marked := false
	p99 := func(r *Result, s metrics.Summary) string {
		v := s.P99
		if s.Count > 0 && GeneratorExplains(r.Generator, v, DefaultLimits()) {
			marked = true
			return fmt.Sprintf("%.2f !", v)
		}
		return fmt.Sprintf("%.2f", v)
	}
	for _, r := range rs {
		if r.Status == StatusNotApplicable {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\t\t\t\t\t\t\t\t\t\t\t\t\n", r.Workload, r.Driver, r.Status, r.Error)
			continue
		}
		d := Derive(r)
		offered := "max"
		if r.OfferedRate > 0 {
			offered = fmt.Sprintf("%.0f", r.OfferedRate)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%.2f\t%.0f\t%d\t%.2f\t%s\t%.2f\t%s\t%d\t%d\t%d\t%d\t\n",
			r.Workload, r.Driver, r.Status, d.PublishRate, offered, d.PublishMBps, d.ConsumeRate, r.Counts.Failed,
			r.Latency.Publish.P50, p99(r, r.Latency.Publish),
			r.Latency.EndToEnd.P50, p99(r, r.Latency.EndToEnd),
			r.Counts.Lost, r.Counts.Duplicates, r.Counts.OutOfOrder, r.Counts.Late)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if marked {
		fmt.Fprintln(w, "! the load generator's own hiccups explain this p99: it measures the generator as much as the system (docs/measurement.md)")
	}
	for _, r := range rs {
		if r.Status == StatusOK || r.Status == StatusNotApplicable {
			continue
		}
		fmt.Fprintf(w, "%s on %s is %s: %s\n", r.Workload, r.Driver, r.Status, r.Explain())
	}
	return nil
}

// MeanRates returns the mean publish and consume rates (msg/s) and the mean
// publish throughput (MB/s) over the measured samples; for an OMB result,
// which has no samples, over its per-interval rate arrays.
func (r *Result) MeanRates() (publish, consume, publishMBps float64) {
	publish, consume, publishMBps, _ = r.meanRates()
	return publish, consume, publishMBps
}

// meanRates is MeanRates with the number of samples averaged (0: the
// rates were not measured).
func (r *Result) meanRates() (publish, consume, publishMBps float64, n int) {
	if len(r.Samples) == 0 && len(r.PublishRate) > 0 {
		publish, consume = mean(r.PublishRate), mean(r.ConsumeRate)
		return publish, consume, publish * float64(r.MessageSize) / 1e6, len(r.PublishRate)
	}
	for _, s := range r.Samples {
		if !s.Measured() {
			continue
		}
		publish += s.PublishRate
		consume += s.ConsumeRate
		publishMBps += s.PublishMBps
		n++
	}
	if n == 0 {
		return 0, 0, 0, 0
	}
	return publish / float64(n), consume / float64(n), publishMBps / float64(n), n
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}
