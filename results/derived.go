package results

import "math"

// Derived are figures computed from a result's own fields. They are not
// stored: reports and summaries recompute them, so a result file holds
// measurements only.
type Derived struct {
	// PublishRate, ConsumeRate (msg/s) and PublishMBps are means over the
	// measured samples.
	PublishRate, ConsumeRate, PublishMBps float64
	// RateSamples is the number of measured samples those rates are means
	// of; 0 means the rates were not measured (they read 0).
	RateSamples int
	// PerPartitionRate is the mean measured msg/s per partition.
	PerPartitionRate float64
	// MaxPartitionRate is the busiest partition's msg/s.
	MaxPartitionRate float64
	// Skew is MaxPartitionRate / PerPartitionRate: 1 is perfectly even; a
	// hot key pushes it towards the partition count.
	Skew float64
	// MinConsumeRate is the lowest consume rate of a measured sample, and
	// Dip is 1 - MinConsumeRate/ConsumeRate: the throughput dip of a
	// rebalance storm.
	MinConsumeRate, Dip float64
	// Pauses, MaxPause and TotalPause (seconds) summarise consumption
	// pauses.
	Pauses               int
	MaxPause, TotalPause float64
}

// Derive computes the derived figures of r. It does not modify r.
func Derive(r *Result) Derived {
	var d Derived
	d.PublishRate, d.ConsumeRate, d.PublishMBps, d.RateSamples = r.meanRates()
	d.MinConsumeRate = math.Inf(1)
	for _, s := range r.Samples {
		if s.Measured() && s.Phase == "" {
			d.MinConsumeRate = min(d.MinConsumeRate, s.ConsumeRate)
		}
	}
	if math.IsInf(d.MinConsumeRate, 1) {
		d.MinConsumeRate = 0
	}
	if d.ConsumeRate > 0 {
		d.Dip = 1 - d.MinConsumeRate/d.ConsumeRate
	}
	var sum float64
	for _, p := range r.PartitionsDetail {
		sum += p.Rate
		d.MaxPartitionRate = max(d.MaxPartitionRate, p.Rate)
	}
	if n := len(r.PartitionsDetail); n > 0 {
		d.PerPartitionRate = sum / float64(n)
	}
	if d.PerPartitionRate > 0 {
		d.Skew = d.MaxPartitionRate / d.PerPartitionRate
	}
	for _, p := range r.Pauses {
		d.Pauses++
		d.TotalPause += p.Duration
		d.MaxPause = max(d.MaxPause, p.Duration)
	}
	return d
}
