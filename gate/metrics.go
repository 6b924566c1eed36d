package gate

import (
	"sort"

	"github.com/brokerbench/brokerbench/results"
)

// metric reads one figure from a result; ok is false when the result does
// not have it (for example end-to-end latency of a produce-only run).
type metric struct {
	unit string
	get  func(r *results.Result, d results.Derived) (v float64, ok bool)
}

func count(f func(c results.Counts) int64) metric {
	return metric{"messages", func(r *results.Result, _ results.Derived) (float64, bool) { return float64(f(r.Counts)), true }}
}

func latency(f func(r *results.Result) (float64, int64)) metric {
	return metric{"ms", func(r *results.Result, _ results.Derived) (float64, bool) {
		v, n := f(r)
		return v, n > 0
	}}
}

// metricTable lists every figure a threshold can name. OMB's aggregated
// latency names keep OMB's meaning (from the actual send); the
// "corrected" ones are from the intended send time.
func metricTable() map[string]metric {
	pub := func(f func(r *results.Result) float64) metric {
		return latency(func(r *results.Result) (float64, int64) { return f(r), r.Latency.PublishFromSend.Count })
	}
	e2e := func(f func(r *results.Result) float64) metric {
		return latency(func(r *results.Result) (float64, int64) { return f(r), r.Latency.EndToEndFromSend.Count })
	}
	return map[string]metric{
		"lost":       count(func(c results.Counts) int64 { return c.Lost }),
		"duplicates": count(func(c results.Counts) int64 { return c.Duplicates }),
		"outOfOrder": count(func(c results.Counts) int64 { return c.OutOfOrder }),
		"unexpected": count(func(c results.Counts) int64 { return c.Unexpected }),
		"failed":     count(func(c results.Counts) int64 { return c.Failed }),
		"late":       count(func(c results.Counts) int64 { return c.Late }),
		"rebalances": count(func(c results.Counts) int64 { return c.Rebalances }),
		"publishRate": {"msg/s", func(_ *results.Result, d results.Derived) (float64, bool) {
			return d.PublishRate, d.RateSamples > 0
		}},
		"consumeRate": {"msg/s", func(_ *results.Result, d results.Derived) (float64, bool) {
			return d.ConsumeRate, d.RateSamples > 0
		}},
		"publishMBps": {"MB/s", func(_ *results.Result, d results.Derived) (float64, bool) {
			return d.PublishMBps, d.RateSamples > 0
		}},
		"maxPause": {"s", func(_ *results.Result, d results.Derived) (float64, bool) { return d.MaxPause, true }},
		"skew":     {"ratio", func(_ *results.Result, d results.Derived) (float64, bool) { return d.Skew, d.Skew > 0 }},

		"aggregatedPublishLatency50pct":   pub(func(r *results.Result) float64 { return r.AggregatedPublishLatency50pct }),
		"aggregatedPublishLatency99pct":   pub(func(r *results.Result) float64 { return r.AggregatedPublishLatency99pct }),
		"aggregatedPublishLatency999pct":  pub(func(r *results.Result) float64 { return r.AggregatedPublishLatency999pct }),
		"aggregatedPublishLatencyMax":     pub(func(r *results.Result) float64 { return r.AggregatedPublishLatencyMax }),
		"aggregatedEndToEndLatency50pct":  e2e(func(r *results.Result) float64 { return r.AggregatedEndToEndLatency50pct }),
		"aggregatedEndToEndLatency99pct":  e2e(func(r *results.Result) float64 { return r.AggregatedEndToEndLatency99pct }),
		"aggregatedEndToEndLatency999pct": e2e(func(r *results.Result) float64 { return r.AggregatedEndToEndLatency999pct }),
		"aggregatedEndToEndLatencyMax":    e2e(func(r *results.Result) float64 { return r.AggregatedEndToEndLatencyMax }),
		"correctedPublishLatency99pct":    latency(func(r *results.Result) (float64, int64) { return r.Latency.Publish.P99, r.Latency.Publish.Count }),
		"correctedPublishLatency999pct":   latency(func(r *results.Result) (float64, int64) { return r.Latency.Publish.P999, r.Latency.Publish.Count }),
		"correctedEndToEndLatency99pct":   latency(func(r *results.Result) (float64, int64) { return r.Latency.EndToEnd.P99, r.Latency.EndToEnd.Count }),
		"correctedEndToEndLatency999pct":  latency(func(r *results.Result) (float64, int64) { return r.Latency.EndToEnd.P999, r.Latency.EndToEnd.Count }),
	}
}

// Metrics lists the names a threshold may use, sorted.
func Metrics() []string {
	t := metricTable()
	out := make([]string, 0, len(t))
	for k := range t {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Unit returns the unit of a metric ("ms", "msg/s", ...), "" if unknown.
func Unit(name string) string { return metricTable()[name].unit }
