// Package stats is brokerbench's one home for the statistics of repeated
// measurements: the interval around a figure measured several times, and
// whether two sets of measurements differ. It wraps golang.org/x/perf's
// benchmath (the engine behind benchstat) instead of re-deriving tests.
//
// The choices, and why (docs/measurement.md says the same for users):
//   - A figure repeated N times is summarised by its mean and a Student-t
//     interval at [Confidence] (benchmath.AssumeNormal). Unlike the
//     median's distribution-free interval, which needs at least 6 values
//     at 95 %, it is finite from 2 repetitions, which is what a user with
//     five runs has.
//   - Two sets are compared with the Mann-Whitney U test
//     (benchmath.AssumeNothing), as benchstat does: no normality is
//     assumed, and a difference with p ≥ [Alpha] is reported as "~".
//   - The ratio between two sets is the Hodges-Lehmann estimate (the
//     median of all pairwise ratios) and its interval is the set of
//     ratios r for which the same U test does not reject "subject equals
//     r × baseline". The interval and the verdict therefore always agree:
//     the interval excludes 1 exactly when the difference is significant.
package stats

import (
	"math"
	"slices"

	"golang.org/x/perf/benchmath"
)

const (
	// Confidence is the level of every interval stats computes.
	Confidence = 0.95
	// Alpha is the significance level of every comparison (1 - Confidence).
	Alpha = 0.05
)

// Summary is a figure measured N times.
type Summary struct {
	// N is the number of values (repetitions).
	N int `json:"n"`
	// Mean of the values.
	Mean float64 `json:"mean"`
	// Low and High bound the Student-t interval of the mean at
	// [Confidence]; both equal Mean when N < 2.
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	// Warning says why the interval is missing or weak; empty when fine.
	Warning string `json:"warning,omitempty"`
}

// HalfWidth is half the interval's width: the "± x" of "mean ± x".
func (s Summary) HalfWidth() float64 { return (s.High - s.Low) / 2 }

// HasInterval reports whether the summary carries a confidence interval.
func (s Summary) HasInterval() bool { return s.N >= 2 }

// Summarize returns the mean of values and its confidence interval. It
// does not modify values. NaN and infinite values are dropped: they are
// figures a run could not measure, not measurements.
func Summarize(values []float64) Summary {
	vs := finite(values)
	switch len(vs) {
	case 0:
		return Summary{Warning: "no repetitions: nothing measured"}
	case 1:
		return Summary{N: 1, Mean: vs[0], Low: vs[0], High: vs[0], Warning: "1 repetition: no confidence interval"}
	}
	s := benchmath.AssumeNormal.Summary(benchmath.NewSample(vs, &benchmath.DefaultThresholds), Confidence)
	return Summary{N: len(vs), Mean: s.Center, Low: s.Lo, High: s.Hi}
}

// Ratio compares a subject with a baseline: subject ≈ Ratio × baseline.
type Ratio struct {
	// Ratio is the Hodges-Lehmann estimate: the median of subject[i] /
	// baseline[j] over all pairs.
	Ratio float64 `json:"ratio"`
	// Low and High bound the ratio at [Confidence] when Bounded; with too
	// few repetitions the U test cannot reject any ratio and the interval
	// is unbounded (Bounded false, Low and High 0).
	Low     float64 `json:"low"`
	High    float64 `json:"high"`
	Bounded bool    `json:"bounded"`
	// P is the U test's p-value for "no difference".
	P float64 `json:"p"`
	// Significant is P < [Alpha]; when false a report prints "~".
	Significant bool `json:"significant"`
	// N1 and N2 are the subject's and the baseline's repetitions.
	N1 int `json:"n1"`
	N2 int `json:"n2"`
	// Warning says why the comparison is weak (too few repetitions).
	Warning string `json:"warning,omitempty"`
}

// CompareRatio compares subject with baseline. Both must be positive
// figures (rates, latencies); values ≤ 0, NaN and infinities are dropped.
func CompareRatio(subject, baseline []float64) Ratio {
	xs, ys := positive(subject), positive(baseline)
	r := Ratio{N1: len(xs), N2: len(ys), P: 1}
	if len(xs) == 0 || len(ys) == 0 {
		r.Warning = "nothing to compare: a side has no positive measurement"
		return r
	}
	pairs := make([]float64, 0, len(xs)*len(ys))
	for _, x := range xs {
		for _, y := range ys {
			pairs = append(pairs, x/y)
		}
	}
	slices.Sort(pairs)
	r.Ratio = median(pairs)
	c := uTest(xs, ys, 1)
	r.P = c.P
	r.Significant = c.P < Alpha
	if len(c.Warnings) > 0 {
		r.Warning = c.Warnings[0].Error()
	}
	r.Low, r.High, r.Bounded = ratioInterval(xs, ys, pairs)
	return r
}

// ratioInterval inverts the U test: the accepted ratios r are those for
// which subject and r × baseline are not significantly different. The
// test's p-value only changes where r crosses a pairwise ratio, so it is
// evaluated once between each pair of neighbouring distinct ratios (at
// their geometric mean, where no cross-sample ties exist).
func ratioInterval(xs, ys, pairs []float64) (lo, hi float64, bounded bool) {
	cuts := slices.Compact(slices.Clone(pairs))
	accept := func(r float64) bool { return uTest(xs, ys, r).P >= Alpha }
	// Outside the outermost pairwise ratios the samples separate
	// completely; if even that is accepted, the interval is unbounded.
	if accept(cuts[0]/2) || accept(cuts[len(cuts)-1]*2) {
		return 0, 0, false
	}
	lo, hi = math.NaN(), math.NaN()
	for i := 0; i+1 < len(cuts); i++ {
		if accept(math.Sqrt(cuts[i] * cuts[i+1])) {
			if math.IsNaN(lo) {
				lo = cuts[i]
			}
			hi = cuts[i+1]
		}
	}
	if math.IsNaN(lo) {
		// Only the cut points themselves are plausible: a single ratio
		// (every pairwise ratio equal).
		return cuts[0], cuts[len(cuts)-1], true
	}
	return lo, hi, true
}

func uTest(xs, ys []float64, scale float64) benchmath.Comparison {
	scaled := make([]float64, len(ys))
	for i, y := range ys {
		scaled[i] = y * scale
	}
	return benchmath.AssumeNothing.Compare(
		benchmath.NewSample(slices.Clone(xs), &benchmath.DefaultThresholds),
		benchmath.NewSample(scaled, &benchmath.DefaultThresholds))
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func finite(values []float64) []float64 {
	out := make([]float64, 0, len(values))
	for _, v := range values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

func positive(values []float64) []float64 {
	out := finite(values)
	return slices.DeleteFunc(out, func(v float64) bool { return v <= 0 })
}
