package runner

import (
	"math"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	bbmetrics "github.com/brokerbench/brokerbench/metrics"
)

func TestRecordHiccup(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name     string
		elapsed  time.Duration
		count    int64   // values recorded
		maxMs    float64 // largest value recorded, ms
		meanMsGT float64 // mean above this, ms
	}{
		// On time: one zero.
		{"on time", ms, 1, 0, -1},
		// A wake-up before the interval (clock granularity) is not negative.
		{"early", ms - 10*time.Microsecond, 1, 0, -1},
		// 0.5 ms late: below one interval, nothing swallowed.
		{"half an interval late", 1500 * time.Microsecond, 1, 0.5, 0.49},
		// A 5 ms stall swallowed four wake-ups: 4, 3, 2 and 1 ms.
		{"stall of five intervals", 5 * ms, 4, 4, 2.49},
		// A 100 ms GC-like stall: 99 values, 99 ms down to 1 ms.
		{"long stall", 100 * ms, 99, 99, 49.9},
	}
	for _, tt := range tests {
		h := bbmetrics.NewHistogram()
		recordHiccup(h, tt.elapsed, ms)
		gotMax := float64(h.Max()) / 1000
		if h.TotalCount() != tt.count || math.Abs(gotMax-tt.maxMs) > 0.01*tt.maxMs+0.001 || h.Mean()/1000 <= tt.meanMsGT {
			t.Errorf("%s: count %d max %.3f ms mean %.3f ms; want count %d max %.3f ms mean > %.2f ms",
				tt.name, h.TotalCount(), gotMax, h.Mean()/1000, tt.count, tt.maxMs, tt.meanMsGT)
		}
	}
}

func TestPauseDelta(t *testing.T) {
	t.Parallel()
	buckets := []float64{math.Inf(-1), 0.001, 0.002, 0.010, math.Inf(1)}
	a := &metrics.Float64Histogram{Buckets: buckets, Counts: []uint64{1, 5, 0, 0}}
	tests := []struct {
		name           string
		counts         []uint64
		total, longest float64
	}{
		{"no new pause", []uint64{1, 5, 0, 0}, 0, 0},
		// Two pauses in [1 ms, 2 ms): 1.5 ms each at the midpoint.
		{"two short pauses", []uint64{1, 7, 0, 0}, 0.003, 0.002},
		// One in [2, 10) ms and one past the last bound, counted at 10 ms.
		{"long pauses", []uint64{1, 5, 1, 1}, 0.006 + 0.010, 0.010},
		// Under the first bound: from 0, at 0.5 ms.
		{"below the first bound", []uint64{2, 5, 0, 0}, 0.0005, 0.001},
	}
	for _, tt := range tests {
		total, longest := pauseDelta(a, &metrics.Float64Histogram{Buckets: buckets, Counts: tt.counts})
		if math.Abs(total-tt.total) > 1e-12 || longest != tt.longest {
			t.Errorf("%s: total %g longest %g; want %g %g", tt.name, total, longest, tt.total, tt.longest)
		}
	}
}

// TestGeneratorHealth runs the watcher for real: the probe records about
// one value per interval, and a forced GC shows up as a cycle.
func TestGeneratorHealth(t *testing.T) {
	t.Parallel()
	w := startWatcher(hiccupInterval)
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		n := w.hist.TotalCount()
		w.mu.Unlock()
		if n >= 50 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	g := w.stop()
	if g.Hiccups.Count < 50 || g.HiccupHistogram == "" || g.ProbeInterval != 1 {
		t.Errorf("probe: %+v", g)
	}
	if g.GCCycles < 1 || g.Seconds <= 0 || g.GOMAXPROCS != runtime.GOMAXPROCS(0) || g.CPUShare < 0 || g.CPUShare > 1 {
		t.Errorf("runtime figures: %+v", g)
	}
	if _, err := bbmetrics.Decode(g.HiccupHistogram); err != nil {
		t.Errorf("hiccup histogram does not decode: %v", err)
	}
}
