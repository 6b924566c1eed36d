// Package metrics records latencies into HDR histograms and keeps the
// counters of a run.
//
// A [Group] holds several kinds of latency recorded together (a producer
// records three per acknowledgement) under one lock, each kind with two
// histograms: one for the current interval, rotated by the sampler every
// interval (1 s by default), and one cumulative for the measured phase.
// A value is recorded into the interval histogram only; rotation folds
// the interval into the cumulative one, so each message costs one
// histogram update per kind, not two. A
// [Latency] is a group of one. Values are recorded in microseconds over a
// range of 1 us to one hour with three significant digits; nothing is
// clamped: a value outside the range is counted in OutOfRange and
// reported.
//
// Histograms are not goroutine-safe, so each recorder (one per producer or
// consumer) owns its own Group and the sampler merges them; the Group's
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

// Group records n kinds of latency, indexed 0..n-1. Its methods may be
// called from several goroutines.
type Group struct {
	mu         sync.Mutex
	interval   []*hdrhistogram.Histogram
	total      []*hdrhistogram.Histogram
	outOfRange []int64
}

// NewGroup returns an empty Group of n kinds.
func NewGroup(n int) *Group {
	g := &Group{
		interval:   make([]*hdrhistogram.Histogram, n),
		total:      make([]*hdrhistogram.Histogram, n),
		outOfRange: make([]int64, n),
	}
	for i := range n {
		g.interval[i], g.total[i] = NewHistogram(), NewHistogram()
	}
	return g
}

// Record adds one latency per kind, ds[i] to kind i, under one lock.
// Negative durations (a buggy caller; Go's monotonic clock never steps
// back) are recorded as 0 rather than dropped, so counts stay exact.
func (g *Group) Record(ds ...time.Duration) {
	g.mu.Lock()
	for i, d := range ds {
		us := max(d.Microseconds(), 0)
		if us > HighestMicros {
			g.outOfRange[i]++
			continue
		}
		// Cannot fail: us is within the shared range.
		_ = g.interval[i].RecordValue(us)
	}
	g.mu.Unlock()
}

// MergeInterval adds kind's current interval histogram into dst and
// starts a new interval for it, folding the finished one into the
// cumulative histogram. It is how the sampler collects one interval from
// all recorders.
func (g *Group) MergeInterval(kind int, dst *hdrhistogram.Histogram) {
	g.mu.Lock()
	// Merges cannot drop values: every histogram has the package's range.
	dst.Merge(g.interval[kind])
	g.total[kind].Merge(g.interval[kind])
	g.interval[kind].Reset()
	g.mu.Unlock()
}

// MergeTotal adds kind's cumulative histogram, including the interval not
// yet rotated, into dst.
func (g *Group) MergeTotal(kind int, dst *hdrhistogram.Histogram) {
	g.mu.Lock()
	dst.Merge(g.total[kind])
	dst.Merge(g.interval[kind])
	g.mu.Unlock()
}

// Reset forgets everything recorded so far; the runner calls it when the
// warm-up ends.
func (g *Group) Reset() {
	g.mu.Lock()
	for i := range g.total {
		g.interval[i].Reset()
		g.total[i].Reset()
		g.outOfRange[i] = 0
	}
	g.mu.Unlock()
}

// OutOfRange is how many values of all kinds exceeded HighestMicros and so
// are not in the histograms.
func (g *Group) OutOfRange() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var n int64
	for _, v := range g.outOfRange {
		n += v
	}
	return n
}

// Latency records one kind of latency: a Group of one.
type Latency struct{ g *Group }

// NewLatency returns an empty Latency.
func NewLatency() *Latency { return &Latency{g: NewGroup(1)} }

// Record adds one latency.
func (l *Latency) Record(d time.Duration) { l.g.Record(d) }

// MergeInterval adds the current interval histogram into dst and starts a
// new interval.
func (l *Latency) MergeInterval(dst *hdrhistogram.Histogram) { l.g.MergeInterval(0, dst) }

// MergeTotal adds the cumulative histogram into dst.
func (l *Latency) MergeTotal(dst *hdrhistogram.Histogram) { l.g.MergeTotal(0, dst) }

// Reset forgets everything recorded so far.
func (l *Latency) Reset() { l.g.Reset() }

// OutOfRange is how many values exceeded HighestMicros.
func (l *Latency) OutOfRange() int64 { return l.g.OutOfRange() }
