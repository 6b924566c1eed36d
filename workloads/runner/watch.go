package runner

import (
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	bbmetrics "github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/results"
)

// hiccupInterval is the probe's sleep: jHiccup's default resolution. A
// shorter sleep costs more wake-ups; a longer one misses short stalls.
const hiccupInterval = time.Millisecond

// Runtime metrics the watcher reads (see runtime/metrics). CPU time is the
// runtime's estimate: total available CPU minus idle.
const (
	metricGCPauses = "/sched/pauses/total/gc:seconds"
	metricGCCycles = "/gc/cycles/total:gc-cycles"
	metricCPUTotal = "/cpu/classes/total:cpu-seconds"
	metricCPUIdle  = "/cpu/classes/idle:cpu-seconds"
	watchedMetrics = 4
)

// watcher measures the load generator's own health while a run loads: a
// probe goroutine sleeps hiccupInterval again and again and records how
// late it wakes (jHiccup), and runtime/metrics snapshots at the start and
// end give GC pauses and CPU use in between. A generator stall delays the
// probe exactly as it delays a send, so the hiccup histogram is what the
// generator alone adds to a latency.
type watcher struct {
	interval time.Duration
	done     chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex
	hist  *hdrhistogram.Histogram
	from  []metrics.Sample // snapshot at the start of the covered window
	start time.Time
}

func startWatcher(interval time.Duration) *watcher {
	w := &watcher{interval: interval, done: make(chan struct{}), hist: bbmetrics.NewHistogram()}
	w.from, w.start = readRuntime(), time.Now()
	w.wg.Go(w.probe)
	return w
}

// probe is the hiccup loop. It uses a timer rather than time.Sleep so that
// stop ends it at once.
func (w *watcher) probe() {
	t := time.NewTimer(w.interval)
	defer t.Stop()
	for {
		before := time.Now()
		t.Reset(w.interval)
		select {
		case <-w.done:
			return
		case <-t.C:
		}
		w.mu.Lock()
		recordHiccup(w.hist, time.Since(before), w.interval)
		w.mu.Unlock()
	}
}

// recordHiccup records how late a sleep of interval that took elapsed
// woke. Like jHiccup it also records the wake-ups a long stall swallowed
// (RecordCorrectedValue: a stall of 5 intervals records 4, 3, 2 and 1
// intervals more), so the histogram reads like the corrected latency of
// an event due at a random time, which is what a send is.
func recordHiccup(h *hdrhistogram.Histogram, elapsed, interval time.Duration) {
	late := max(elapsed-interval, 0)
	us := min(late.Microseconds(), bbmetrics.HighestMicros)
	_ = h.RecordCorrectedValue(us, interval.Microseconds())
}

// reset restarts the window: the measured phase begins.
func (w *watcher) reset() {
	from := readRuntime()
	w.mu.Lock()
	w.hist.Reset()
	w.from, w.start = from, time.Now()
	w.mu.Unlock()
}

// stop ends the probe and returns the figures of the window since the
// last reset (or the start).
func (w *watcher) stop() *results.Generator {
	close(w.done)
	w.wg.Wait()
	to := readRuntime()
	w.mu.Lock()
	defer w.mu.Unlock()
	g := generatorFigures(w.from, to, time.Since(w.start), runtime.GOMAXPROCS(0))
	g.ProbeInterval = float64(w.interval) / 1e6
	g.Hiccups = bbmetrics.Summarize(w.hist)
	g.HiccupHistogram, _ = bbmetrics.Encode(w.hist) // encoding an in-range histogram cannot fail
	return g
}

func readRuntime() []metrics.Sample {
	s := make([]metrics.Sample, watchedMetrics)
	for i, name := range []string{metricGCPauses, metricGCCycles, metricCPUTotal, metricCPUIdle} {
		s[i].Name = name
	}
	metrics.Read(s)
	return s
}

// generatorFigures computes GC and CPU figures from two snapshots of
// readRuntime taken wall apart, on a process allowed procs cores.
func generatorFigures(from, to []metrics.Sample, wall time.Duration, procs int) *results.Generator {
	g := &results.Generator{GOMAXPROCS: procs, Seconds: wall.Seconds()}
	if to[0].Value.Kind() == metrics.KindFloat64Histogram && from[0].Value.Kind() == metrics.KindFloat64Histogram {
		total, maxPause := pauseDelta(from[0].Value.Float64Histogram(), to[0].Value.Float64Histogram())
		g.GCPauseTotal, g.GCPauseMax = total*1000, maxPause*1000
	}
	if to[1].Value.Kind() == metrics.KindUint64 && from[1].Value.Kind() == metrics.KindUint64 {
		g.GCCycles = int64(to[1].Value.Uint64() - from[1].Value.Uint64())
	}
	f := func(i int, s []metrics.Sample) float64 {
		if s[i].Value.Kind() != metrics.KindFloat64 {
			return 0
		}
		return s[i].Value.Float64()
	}
	busy := (f(2, to) - f(3, to)) - (f(2, from) - f(3, from))
	g.CPUSeconds = max(busy, 0)
	if wall > 0 && procs > 0 {
		g.CPUShare = min(g.CPUSeconds/(wall.Seconds()*float64(procs)), 1)
	}
	return g
}

// pauseDelta returns the total and the longest pause (seconds) recorded
// in b but not in a, two snapshots of one runtime histogram. Each pause
// counts at its bucket's midpoint; the longest is its bucket's upper
// bound, so neither understates.
func pauseDelta(a, b *metrics.Float64Histogram) (total, longest float64) {
	for i, n := range b.Counts {
		if i < len(a.Counts) {
			n -= a.Counts[i]
		}
		if n == 0 {
			continue
		}
		lo, hi := b.Buckets[i], b.Buckets[i+1]
		if math.IsInf(lo, -1) {
			lo = 0
		}
		if math.IsInf(hi, 1) {
			hi = lo
		}
		total += float64(n) * (lo + hi) / 2
		longest = hi
	}
	return total, longest
}
