package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSummarizeKnownSample(t *testing.T) {
	// Mean 10, sample sd 1.5811 (values 8..12), n=5: t(0.975, 4) = 2.7764,
	// half-width = 2.7764 * 1.5811 / sqrt(5) = 1.9632.
	s := Summarize([]float64{12, 8, 10, 9, 11})
	if s.N != 5 || math.Abs(s.Mean-10) > 1e-12 {
		t.Fatalf("summary = %+v, want n=5 mean=10", s)
	}
	if hw := s.HalfWidth(); math.Abs(hw-1.9632) > 1e-3 {
		t.Fatalf("half-width = %.4f, want 1.9632", hw)
	}
	if s.Warning != "" || !s.HasInterval() {
		t.Fatalf("unexpected warning %q", s.Warning)
	}
}

func TestSummarizeDegenerate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []float64
		n      int
		warned bool
	}{
		{"empty", nil, 0, true},
		{"one", []float64{3}, 1, true},
		{"nan dropped", []float64{3, math.NaN()}, 1, true},
		{"constant", []float64{4, 4, 4}, 3, false},
	} {
		s := Summarize(tc.in)
		if s.N != tc.n || (s.Warning != "") != tc.warned || s.Low > s.Mean || s.High < s.Mean {
			t.Errorf("%s: %+v", tc.name, s)
		}
	}
}

func TestSummarizeDoesNotModifyInput(t *testing.T) {
	in := []float64{3, 1, 2}
	Summarize(in)
	CompareRatio(in, []float64{5, 4, 6})
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Fatalf("input reordered: %v", in)
	}
}

// TestCompareRatioClearDifference: two clearly different rates (true ratio
// 2) are significantly different, and the interval contains 2 and not 1.
func TestCompareRatioClearDifference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noisy := func(center float64) []float64 {
		out := make([]float64, 8)
		for i := range out {
			out[i] = center * (1 + 0.05*rng.NormFloat64())
		}
		return out
	}
	r := CompareRatio(noisy(2000), noisy(1000))
	if !r.Significant || !r.Bounded {
		t.Fatalf("ratio = %+v, want significant and bounded", r)
	}
	if r.Low > 2 || r.High < 2 || r.Low <= 1 {
		t.Fatalf("interval [%.3f, %.3f] must contain 2 and exclude 1", r.Low, r.High)
	}
	if math.Abs(r.Ratio-2) > 0.1 {
		t.Fatalf("ratio %.3f, want ≈ 2", r.Ratio)
	}
}

// TestCompareRatioSameDistribution: samples of one distribution are "~",
// and the interval contains 1.
func TestCompareRatioSameDistribution(t *testing.T) {
	a := []float64{101, 99, 100, 102, 98, 100.5}
	b := []float64{100, 101.5, 99.5, 98.5, 100.2, 101}
	r := CompareRatio(a, b)
	if r.Significant {
		t.Fatalf("ratio = %+v, want not significant", r)
	}
	if !r.Bounded || r.Low > 1 || r.High < 1 {
		t.Fatalf("interval [%.3f, %.3f] (bounded %v) must contain 1", r.Low, r.High, r.Bounded)
	}
}

// TestCompareRatioTooFew: with 3 repetitions a side, the U test cannot
// reach p < 0.05 even for disjoint samples, so no interval is claimed.
func TestCompareRatioTooFew(t *testing.T) {
	r := CompareRatio([]float64{10, 11, 12}, []float64{1, 1.1, 1.2})
	if r.Significant || r.Bounded || r.Warning == "" {
		t.Fatalf("ratio = %+v, want unbounded, not significant, with a warning", r)
	}
	if r.Ratio < 8 || r.Ratio > 12 {
		t.Fatalf("ratio estimate %.2f, want ≈ 10", r.Ratio)
	}
}

// TestIntervalAgreesWithVerdict: over many random pairs, the interval
// excludes 1 exactly when the comparison is significant.
func TestIntervalAgreesWithVerdict(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		n1, n2 := 4+rng.IntN(6), 4+rng.IntN(6)
		shift := 1 + 0.1*rng.Float64()
		a, b := make([]float64, n1), make([]float64, n2)
		for j := range a {
			a[j] = shift * (1 + 0.05*rng.NormFloat64())
		}
		for j := range b {
			b[j] = 1 + 0.05*rng.NormFloat64()
		}
		r := CompareRatio(a, b)
		if !r.Bounded {
			continue
		}
		excludesOne := r.Low > 1 || r.High < 1
		if excludesOne != r.Significant {
			t.Fatalf("case %d: interval [%.4f, %.4f] p=%.4f significant=%v disagree", i, r.Low, r.High, r.P, r.Significant)
		}
	}
}
