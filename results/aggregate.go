package results

import (
	"fmt"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/brokerbench/brokerbench/metrics"
)

// LatencyHistograms are the measured phase's cumulative histograms of one
// run, by kind (microseconds); RedeliveryDelay is nil outside queue runs.
type LatencyHistograms struct {
	Publish, PublishFromSend, PublishDelay, EndToEnd, EndToEndFromSend, RedeliveryDelay *hdrhistogram.Histogram
}

// SetLatencies fills the latency summaries, OMB's aggregated fields and
// the encoded histograms from h: the one place they are derived, for a
// run (package runner) and for a merge of shards (package distributed).
func (r *Result) SetLatencies(h LatencyHistograms, outOfRange int64) error {
	redelivery := h.RedeliveryDelay
	if redelivery == nil {
		redelivery = metrics.NewHistogram()
	}
	l := &r.Latency
	l.Publish = metrics.Summarize(h.Publish)
	l.PublishFromSend = metrics.Summarize(h.PublishFromSend)
	l.PublishDelay = metrics.Summarize(h.PublishDelay)
	l.EndToEnd = metrics.Summarize(h.EndToEnd)
	l.EndToEndFromSend = metrics.Summarize(h.EndToEndFromSend)
	l.RedeliveryDelay = metrics.Summarize(redelivery)
	l.OutOfRange = outOfRange

	p := l.PublishFromSend
	r.AggregatedPublishLatencyAvg, r.AggregatedPublishLatency50pct = p.Mean, p.P50
	r.AggregatedPublishLatency75pct, r.AggregatedPublishLatency95pct = p.P75, p.P95
	r.AggregatedPublishLatency99pct, r.AggregatedPublishLatency999pct = p.P99, p.P999
	r.AggregatedPublishLatency9999pct, r.AggregatedPublishLatencyMax = p.P9999, p.Max
	r.AggregatedPublishLatencyQuantiles = metrics.QuantileMap(h.PublishFromSend)
	d := l.PublishDelay
	r.AggregatedPublishDelayLatencyAvg = d.Mean * 1000
	r.AggregatedPublishDelayLatency50pct = int64(d.P50 * 1000)
	r.AggregatedPublishDelayLatency99pct = int64(d.P99 * 1000)
	r.AggregatedPublishDelayLatencyMax = int64(d.Max * 1000)
	e := l.EndToEndFromSend
	r.AggregatedEndToEndLatencyAvg, r.AggregatedEndToEndLatency50pct = e.Mean, e.P50
	r.AggregatedEndToEndLatency75pct, r.AggregatedEndToEndLatency95pct = e.P75, e.P95
	r.AggregatedEndToEndLatency99pct, r.AggregatedEndToEndLatency999pct = e.P99, e.P999
	r.AggregatedEndToEndLatency9999pct, r.AggregatedEndToEndLatencyMax = e.P9999, e.Max
	r.AggregatedEndToEndLatencyQuantiles = metrics.QuantileMap(h.EndToEndFromSend)

	var err error
	enc := func(h *hdrhistogram.Histogram) string {
		s, e := metrics.Encode(h)
		if e != nil && err == nil {
			err = fmt.Errorf("encode histogram: %w", e)
		}
		return s
	}
	r.Histograms = Histograms{
		Publish: enc(h.Publish), PublishFromSend: enc(h.PublishFromSend),
		PublishDelay: enc(h.PublishDelay), EndToEnd: enc(h.EndToEnd),
		EndToEndFromSend: enc(h.EndToEndFromSend),
	}
	if h.RedeliveryDelay != nil {
		r.Histograms.RedeliveryDelay = enc(h.RedeliveryDelay)
	}
	return err
}

// AddSample appends s to Samples and, when it is measured, to OMB's
// per-interval series: the one place those series are derived from
// samples.
func (r *Result) AddSample(s Sample) {
	r.Samples = append(r.Samples, s)
	if !s.Measured() {
		return
	}
	r.PublishRate = append(r.PublishRate, s.PublishRate)
	r.PublishErrorRate = append(r.PublishErrorRate, s.ErrorRate)
	r.ConsumeRate = append(r.ConsumeRate, s.ConsumeRate)
	r.Backlog = append(r.Backlog, s.Backlog)
	p := s.PublishFromSend
	r.PublishLatencyAvg = append(r.PublishLatencyAvg, p.Mean)
	r.PublishLatency50pct = append(r.PublishLatency50pct, p.P50)
	r.PublishLatency75pct = append(r.PublishLatency75pct, p.P75)
	r.PublishLatency95pct = append(r.PublishLatency95pct, p.P95)
	r.PublishLatency99pct = append(r.PublishLatency99pct, p.P99)
	r.PublishLatency999pct = append(r.PublishLatency999pct, p.P999)
	r.PublishLatency9999pct = append(r.PublishLatency9999pct, p.P9999)
	r.PublishLatencyMax = append(r.PublishLatencyMax, p.Max)
	d := s.PublishDelay
	r.PublishDelayLatencyAvg = append(r.PublishDelayLatencyAvg, d.Mean*1000)
	r.PublishDelayLatency50pct = append(r.PublishDelayLatency50pct, int64(d.P50*1000))
	r.PublishDelayLatency99pct = append(r.PublishDelayLatency99pct, int64(d.P99*1000))
	r.PublishDelayLatencyMax = append(r.PublishDelayLatencyMax, int64(d.Max*1000))
	e := s.EndToEndFromSend
	r.EndToEndLatencyAvg = append(r.EndToEndLatencyAvg, e.Mean)
	r.EndToEndLatency50pct = append(r.EndToEndLatency50pct, e.P50)
	r.EndToEndLatency75pct = append(r.EndToEndLatency75pct, e.P75)
	r.EndToEndLatency95pct = append(r.EndToEndLatency95pct, e.P95)
	r.EndToEndLatency99pct = append(r.EndToEndLatency99pct, e.P99)
	r.EndToEndLatency999pct = append(r.EndToEndLatency999pct, e.P999)
	r.EndToEndLatency9999pct = append(r.EndToEndLatency9999pct, e.P9999)
	r.EndToEndLatencyMax = append(r.EndToEndLatencyMax, e.Max)
}
