// Package metrics records latencies into HDR histograms and keeps the
// counters of a run.
//
// A [Latency] holds two histograms: one for the current interval, rotated by
// the sampler every interval (1 s by default), and one cumulative for the
// measured phase. Values are recorded in microseconds over a range of 1 us to
// one hour with three significant digits; nothing is clamped: a value outside
// the range is counted in [Latency.OutOfRange] and reported.
//
// Histograms are not goroutine-safe, so each recorder (one per producer or
// consumer) owns its own Latency and the sampler merges them; [Latency]'s own
// mutex is uncontended except at rotation.
package metrics

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

const (
	// LowestMicros is the lowest discernible latency, in microseconds.
	LowestMicros = 1
	// HighestMicros is the highest trackable latency, in microseconds (1 h).
	HighestMicros = int64(time.Hour / time.Microsecond)
	// SignificantDigits is the HDR precision: values are exact to 0.1%.
	SignificantDigits = 3
)

// NewHistogram returns an empty histogram with the package's range and
// precision, so that every histogram of a run can be merged without loss.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(LowestMicros, HighestMicros, SignificantDigits)
}

// Latency records one kind of latency. Record may be called from several
// goroutines, but it is cheapest when one goroutine records.
type Latency struct {
	mu         sync.Mutex
	interval   *hdrhistogram.Histogram
	total      *hdrhistogram.Histogram
	outOfRange int64
}

// NewLatency returns an empty Latency.
func NewLatency() *Latency {
	return &Latency{interval: NewHistogram(), total: NewHistogram()}
}

// Record adds one latency. Negative durations (a clock step between two
// goroutines cannot happen with Go's monotonic clock, but a buggy caller can)
// are recorded as 0 rather than dropped, so counts stay exact.
func (l *Latency) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	l.mu.Lock()
	if us > HighestMicros {
		l.outOfRange++
	} else {
		// Both records cannot fail: us is within the shared range.
		_ = l.interval.RecordValue(us)
		_ = l.total.RecordValue(us)
	}
	l.mu.Unlock()
}

// MergeInterval adds this Latency's current interval histogram into dst and
// starts a new interval. It is how the sampler collects one interval from
// all recorders.
func (l *Latency) MergeInterval(dst *hdrhistogram.Histogram) {
	l.mu.Lock()
	dst.Merge(l.interval)
	l.interval.Reset()
	l.mu.Unlock()
}

// MergeTotal adds the cumulative histogram into dst.
func (l *Latency) MergeTotal(dst *hdrhistogram.Histogram) {
	l.mu.Lock()
	dst.Merge(l.total)
	l.mu.Unlock()
}

// Reset forgets everything recorded so far; the runner calls it when the
// warm-up ends.
func (l *Latency) Reset() {
	l.mu.Lock()
	l.interval.Reset()
	l.total.Reset()
	l.outOfRange = 0
	l.mu.Unlock()
}

// OutOfRange is how many values exceeded HighestMicros and so are not in the
// histograms.
func (l *Latency) OutOfRange() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.outOfRange
}
