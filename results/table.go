package results

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the end-of-run summary: one row per result with
// throughput, the corrected publish and end-to-end latency percentiles and
// the delivery counts a reader needs to trust the figures.
func WriteTable(w io.Writer, rs []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tsystem\tstatus\tpub msg/s\tpub MB/s\tcons msg/s\tpub p50 ms\tpub p99 ms\te2e p50 ms\te2e p99 ms\tlost\tdup\treorder\tlate\t")
	for _, r := range rs {
		if r.Status != StatusOK {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\t\t\t\t\t\t\t\t\t\t\n", r.Workload, r.Driver, r.Status, r.Error)
			continue
		}
		d := Derive(r)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t\n",
			r.Workload, r.Driver, r.Status, d.PublishRate, d.PublishMBps, d.ConsumeRate,
			r.Latency.Publish.P50, r.Latency.Publish.P99,
			r.Latency.EndToEnd.P50, r.Latency.EndToEnd.P99,
			r.Counts.Lost, r.Counts.Duplicates, r.Counts.OutOfOrder, r.Counts.Late)
	}
	return tw.Flush()
}

// MeanRates returns the mean publish and consume rates (msg/s) and the mean
// publish throughput (MB/s) over the measured samples; for an OMB result,
// which has no samples, over its per-interval rate arrays.
func (r *Result) MeanRates() (publish, consume, publishMBps float64) {
	if len(r.Samples) == 0 && len(r.PublishRate) > 0 {
		publish, consume = mean(r.PublishRate), mean(r.ConsumeRate)
		return publish, consume, publish * float64(r.MessageSize) / 1e6
	}
	n := 0
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
		return 0, 0, 0
	}
	return publish / float64(n), consume / float64(n), publishMBps / float64(n)
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
