package capacity

import (
	"math"
	"time"

	"github.com/brokerbench/brokerbench/stats"
)

// Record is what a result file keeps of a saturation search (workload key
// maxRate): the objective, the bounds, every repetition with its probes,
// and the found rate across repetitions.
type Record struct {
	// Objective every probe was judged against.
	Objective Objective `json:"objective"`
	// Config is the search's bounds as run (defaults filled in).
	Config SearchConfig `json:"config"`
	// Probe and Warmup are each probe's measured and warm-up seconds.
	Probe  float64 `json:"probe"`
	Warmup float64 `json:"warmup"`
	// Brokers is the broker count of the system under test as the user
	// declared it (maxRate.brokers); 0 when not declared. brokerbench
	// cannot see it on every system, so it is an input label, the N of a
	// sweep over clusters of different sizes.
	Brokers int `json:"brokers,omitempty"`
	// Repetitions are the searches run, in order.
	Repetitions []SearchRun `json:"repetitions"`
	// Found is the found rate (msg/s) over the confirmed repetitions: mean
	// and 95% Student-t interval (package stats). N is 0 when no
	// repetition confirmed a rate.
	Found stats.Summary `json:"found"`
}

// NewRecord summarises the repetitions of a search.
func NewRecord(o Objective, cfg SearchConfig, probe, warmup time.Duration, brokers int, reps []SearchRun) *Record {
	r := &Record{Objective: o, Config: cfg, Probe: probe.Seconds(), Warmup: warmup.Seconds(), Brokers: brokers, Repetitions: reps}
	r.Found = stats.Summarize(r.Confirmed())
	// A rate is never negative; with two or three noisy repetitions the
	// Student-t interval can reach below 0, which would only read as "no
	// capacity at all".
	r.Found.Low = math.Max(0, r.Found.Low)
	if len(r.Confirmed()) < len(reps) {
		r.Found.Warning = joinNonEmpty(r.Found.Warning, "repetitions without a confirmed rate are left out")
	}
	return r
}

// Warning is what a result carrying r must say when no repetition
// confirmed a rate (the figures are then the last probe's), "" otherwise.
// One machine's search and a merged distributed one both say it.
func (r *Record) Warning() string {
	if r.Found.N > 0 {
		return ""
	}
	return "capacity search: no rate met " + r.Objective.String() +
		" and passed its confirmation; the figures are the last probe's (see capacity.repetitions)"
}

// Confirmed returns the found rates of the repetitions that confirmed one.
func (r *Record) Confirmed() []float64 {
	var out []float64
	for _, s := range r.Repetitions {
		if s.Confirmed && s.Found > 0 {
			out = append(out, s.Found)
		}
	}
	return out
}

// Probes returns every probe of every repetition, in order.
func (r *Record) Probes() []Probe {
	var out []Probe
	for _, s := range r.Repetitions {
		out = append(out, s.Probes...)
	}
	return out
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
