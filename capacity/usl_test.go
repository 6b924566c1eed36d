package capacity

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// synthetic returns reps noisy measurements of the law at each n, with
// relative Gaussian noise.
func synthetic(seed uint64, th [3]float64, ns []float64, reps int, noise float64) []Point {
	rnd := rand.New(rand.NewPCG(seed, 7))
	var pts []Point
	for _, n := range ns {
		for range reps {
			pts = append(pts, Point{N: n, X: usl(th, n) * (1 + noise*rnd.NormFloat64())})
		}
	}
	return pts
}

func TestFitUSLRecoversKnownParameters(t *testing.T) {
	t.Parallel()
	ns := []float64{1, 2, 4, 8, 16, 32, 64}
	tests := []struct {
		name string
		th   [3]float64 // λ, σ, κ
		flat bool
	}{
		// A typical scalable system peaking inside the range: N* = sqrt(0.95/0.0005) ≈ 44.
		{name: "peaks in range", th: [3]float64{1000, 0.05, 0.0005}},
		// Mostly serialized: σ = 0.9, the sweep is flat.
		{name: "flat", th: [3]float64{5000, 0.9, 0.0001}, flat: true},
		// Linear-ish with mild contention, no coherency cost.
		{name: "no coherency", th: [3]float64{200, 0.02, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// 95% intervals miss now and then by design: over 20 noisy
			// sweeps each parameter must be covered at least 16 times.
			const seeds = 20
			var covered [3]int
			for seed := range uint64(seeds) {
				pts := synthetic(seed, tt.th, ns, 3, 0.02)
				f, err := FitUSL(pts)
				if err != nil {
					t.Fatal(err)
				}
				if !f.Intervals || f.DF != len(ns)*3-3 {
					t.Fatalf("seed %d: intervals %v df %d", seed, f.Intervals, f.DF)
				}
				for i, p := range []Param{f.Lambda, f.Sigma, f.Kappa} {
					if tt.th[i] >= p.Low && tt.th[i] <= p.High {
						covered[i]++
					}
				}
				// Residuals of data from the model are its noise (2%).
				var rel float64
				for i, p := range pts {
					rel += math.Pow(f.Residuals[i]/f.At(p.N), 2)
				}
				if rel = math.Sqrt(rel / float64(len(pts))); rel > 0.04 {
					t.Errorf("seed %d: relative RMS residual %.1f%% for data with 2%% noise", seed, 100*rel)
				}
				if f.Flat != tt.flat {
					t.Errorf("seed %d: flat %v, want %v (σ %.3f) notes %v", seed, f.Flat, tt.flat, f.Sigma.Value, f.Notes)
				}
				if lo, hi := f.Band(8); lo > f.At(8) || hi < f.At(8) {
					t.Errorf("seed %d: band [%g, %g] does not contain the fit %g", seed, lo, hi, f.At(8))
				}
			}
		})
	}
}

func TestFitUSLPeak(t *testing.T) {
	t.Parallel()
	th := [3]float64{1000, 0.05, 0.002} // N* = sqrt(0.95/0.002) ≈ 21.8
	f, err := FitUSL(synthetic(1, th, []float64{1, 2, 4, 8, 16, 24, 32, 48}, 3, 0.01))
	if err != nil {
		t.Fatal(err)
	}
	want := math.Sqrt((1 - th[1]) / th[2])
	if want < f.Peak.Low || want > f.Peak.High {
		t.Errorf("N* %g not in [%g, %g]", want, f.Peak.Low, f.Peak.High)
	}
	if xm := usl(th, want); xm < f.XMax.Low || xm > f.XMax.High {
		t.Errorf("X_max %g not in [%g, %g]", xm, f.XMax.Low, f.XMax.High)
	}
}

func TestFitUSLInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		pts       []Point
		err       bool
		intervals bool
	}{
		{name: "two points", pts: []Point{{1, 100}, {2, 190}}, err: true},
		{name: "one N", pts: []Point{{4, 100}, {4, 110}, {4, 105}}, err: true},
		{name: "N below 1", pts: []Point{{0, 100}, {2, 190}, {4, 300}}, err: true},
		{name: "NaN", pts: []Point{{1, math.NaN()}, {2, 190}, {4, 300}}, err: true},
		// Three points fit exactly and leave no degrees of freedom.
		{name: "three points", pts: []Point{{1, 100}, {2, 190}, {4, 300}}},
		{name: "four points", pts: []Point{{1, 100}, {2, 190}, {4, 300}, {8, 380}}, intervals: true},
	}
	for _, tt := range tests {
		f, err := FitUSL(tt.pts)
		if (err != nil) != tt.err || (err == nil && f.Intervals != tt.intervals) {
			t.Errorf("%s: err %v intervals %v; want err %v intervals %v", tt.name, err, f.Intervals, tt.err, tt.intervals)
		}
	}
}

func TestParamJSON(t *testing.T) {
	t.Parallel()
	in := Param{Value: 10, Low: 2, High: math.Inf(1)}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"value":10,"low":2,"high":null}` {
		t.Errorf("JSON %s", data)
	}
	var out Param
	if err := json.Unmarshal(data, &out); err != nil || out != in {
		t.Errorf("round trip %+v, %v; want %+v", out, err, in)
	}
}
