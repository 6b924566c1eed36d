package capacity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/brokerbench/brokerbench/stats"
)

// FlatSigma is the contention coefficient at or above which a sweep is
// called flat: throughput barely grows with N because nearly all of the
// work is serialized (σ = 1 is fully serialized).
const FlatSigma = 0.8

// ErrFit is wrapped when a sweep cannot be fitted (too few points, no
// positive throughput, a non-converging optimizer).
var ErrFit = errors.New("cannot fit the USL")

// Point is one measurement of a sweep: throughput X (msg/s) at
// concurrency N (partitions, producers, consumers or brokers). Repeated
// measurements at one N are separate points.
type Point struct {
	N float64 `json:"n"`
	X float64 `json:"x"`
}

// Param is a fitted parameter with its 95% interval; Low and High equal
// Value when the fit has no interval (no degrees of freedom left). In
// JSON an unbounded (infinite) figure is null.
type Param struct {
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

// Fit is the Universal Scalability Law fitted to a sweep:
//
//	X(N) = λN / (1 + σ(N-1) + κN(N-1))
//
// λ is the throughput of one unit without contention, σ the contention
// (serialized share, 0..1) and κ the coherency (crosstalk) coefficient.
// Intervals are 95% Student-t intervals from the linearised covariance
// s²(JᵀJ)⁻¹ at the least-squares optimum (J the Jacobian of X in λ, σ, κ;
// s² the residual variance with n-3 degrees of freedom); N* and X_max get
// theirs by the delta method. They are approximate, and clipped to the
// parameters' ranges when an estimate sits at a bound.
type Fit struct {
	Lambda Param `json:"lambda"`
	Sigma  Param `json:"sigma"`
	Kappa  Param `json:"kappa"`
	// Intervals is false when there were no degrees of freedom left (3
	// points or fewer) or the covariance was singular.
	Intervals bool `json:"intervals"`
	// Points is the number of measurements fitted, DF = Points - 3.
	Points int `json:"points"`
	DF     int `json:"df"`
	// R2 is 1 - SSR/SST; RMSE the root mean squared residual (msg/s).
	R2   float64 `json:"r2"`
	RMSE float64 `json:"rmse"`
	// Residuals are measured minus fitted X, in the order of the points.
	Residuals []float64 `json:"residuals"`
	// Peak is N* = sqrt((1-σ)/κ), where throughput peaks; +Inf when κ = 0.
	Peak Param `json:"peak"`
	// XMax is the peak throughput X(N*), or λ/σ when κ = 0 and σ > 0
	// (the asymptote); +Inf when both are 0.
	XMax Param `json:"xMax"`
	// MinN and MaxN are the measured range.
	MinN float64 `json:"minN"`
	MaxN float64 `json:"maxN"`
	// Flat is true when σ >= FlatSigma: the setup is serialized.
	Flat bool `json:"flat"`
	// Notes say in words what a reader must know: flat, retrograde,
	// peak beyond the measured range, no intervals.
	Notes []string `json:"notes,omitempty"`

	cov *mat.SymDense // covariance of (λ, σ, κ); nil without intervals
	t   float64       // Student-t quantile for DF
}

// usl evaluates the law at n for θ = (λ, σ, κ).
func usl(th [3]float64, n float64) float64 {
	return th[0] * n / (1 + th[1]*(n-1) + th[2]*n*(n-1))
}

// At returns the fitted throughput at n.
func (f Fit) At(n float64) float64 { return usl(f.theta(), n) }

func (f Fit) theta() [3]float64 { return [3]float64{f.Lambda.Value, f.Sigma.Value, f.Kappa.Value} }

// Band returns the 95% confidence band of the fitted curve at n (delta
// method); both equal At(n) without intervals.
func (f Fit) Band(n float64) (lo, hi float64) {
	v := f.At(n)
	if !f.Intervals {
		return v, v
	}
	se := f.se(func(th [3]float64) float64 { return usl(th, n) })
	return math.Max(0, v-f.t*se), v + f.t*se
}

// se is the delta-method standard error of g at the optimum. The
// gradient is taken by central differences with steps scaled to each
// parameter's own standard error, so that a parameter at its bound (σ = 0)
// does not make the step vanish.
func (f Fit) se(g func([3]float64) float64) float64 {
	th := f.theta()
	var grad [3]float64
	for i := range th {
		h := 1e-4 * math.Sqrt(math.Max(f.cov.At(i, i), 0))
		if h == 0 {
			continue
		}
		up, dn := th, th
		up[i] += h
		dn[i] -= h
		grad[i] = (g(up) - g(dn)) / (2 * h)
	}
	var v float64
	for i := range 3 {
		for j := range 3 {
			v += grad[i] * grad[j] * f.cov.At(i, j)
		}
	}
	return math.Sqrt(math.Max(0, v))
}

// FitUSL fits the law to pts by least squares: λ is solved in closed form
// for each (σ, κ), which gonum's Nelder-Mead searches from several starts
// with σ = sin²(u) and κ = v² so that both stay in range. At least 3
// points at 2 or more distinct N are needed; intervals need 4 points.
func FitUSL(pts []Point) (Fit, error) {
	var f Fit
	ns := map[float64]bool{}
	for _, p := range pts {
		if !(p.N >= 1) || !(p.X >= 0) || math.IsInf(p.X, 0) || math.IsInf(p.N, 0) {
			return f, fmt.Errorf("%w: point N=%v X=%v: N must be at least 1 and X a finite non-negative rate", ErrFit, p.N, p.X)
		}
		ns[p.N] = true
	}
	if len(pts) < 3 || len(ns) < 2 {
		return f, fmt.Errorf("%w: %d points at %d distinct N; need at least 3 points at 2 or more N", ErrFit, len(pts), len(ns))
	}
	f.Points, f.DF = len(pts), len(pts)-3
	f.MinN, f.MaxN = math.Inf(1), 0
	for n := range ns {
		f.MinN, f.MaxN = math.Min(f.MinN, n), math.Max(f.MaxN, n)
	}
	th, err := minimize(pts, f.MaxN)
	if err != nil {
		return f, err
	}
	f.Lambda, f.Sigma, f.Kappa = Param{Value: th[0]}, Param{Value: th[1]}, Param{Value: th[2]}
	f.quality(pts)
	f.intervals(pts)
	f.peak()
	f.describe()
	return f, nil
}

// minimize returns the least-squares (λ, σ, κ).
func minimize(pts []Point, maxN float64) ([3]float64, error) {
	// κ is scaled so that v ≈ 1 means a peak inside the measured range.
	kScale := 1 / (maxN * maxN)
	theta := func(x []float64) [3]float64 {
		s := math.Pow(math.Sin(x[0]), 2)
		k := x[1] * x[1] * kScale
		return [3]float64{lambdaFor(pts, s, k), s, k}
	}
	ssr := func(x []float64) float64 { return sumSquares(pts, theta(x)) }
	best, bestF := []float64(nil), math.Inf(1)
	for _, s0 := range []float64{0.05, 0.5, 0.95} {
		for _, k0 := range []float64{0.01, 1, 10} {
			x0 := []float64{math.Asin(math.Sqrt(s0)), math.Sqrt(k0)}
			res, err := optimize.Minimize(optimize.Problem{Func: ssr}, x0, &optimize.Settings{MajorIterations: 2000}, &optimize.NelderMead{})
			if err != nil && res == nil {
				continue
			}
			if res.F < bestF {
				best, bestF = res.X, res.F
			}
		}
	}
	if best == nil || math.IsNaN(bestF) {
		return [3]float64{}, fmt.Errorf("%w: the optimizer did not converge", ErrFit)
	}
	return theta(best), nil
}

// lambdaFor is the least-squares λ for fixed σ and κ: X = λ·g(N) is linear
// in λ, so λ = Σ X g / Σ g².
func lambdaFor(pts []Point, s, k float64) float64 {
	var num, den float64
	for _, p := range pts {
		g := usl([3]float64{1, s, k}, p.N)
		num += p.X * g
		den += g * g
	}
	if den == 0 {
		return 0
	}
	return num / den
}

func sumSquares(pts []Point, th [3]float64) float64 {
	var s float64
	for _, p := range pts {
		d := p.X - usl(th, p.N)
		s += d * d
	}
	return s
}

func (f *Fit) quality(pts []Point) {
	th := f.theta()
	var mean float64
	for _, p := range pts {
		mean += p.X
	}
	mean /= float64(len(pts))
	var ssr, sst float64
	f.Residuals = make([]float64, len(pts))
	for i, p := range pts {
		f.Residuals[i] = p.X - usl(th, p.N)
		ssr += f.Residuals[i] * f.Residuals[i]
		sst += (p.X - mean) * (p.X - mean)
	}
	f.RMSE = math.Sqrt(ssr / float64(len(pts)))
	if sst > 0 {
		f.R2 = 1 - ssr/sst
	}
}

// intervals computes s²(JᵀJ)⁻¹ and the parameters' intervals.
func (f *Fit) intervals(pts []Point) {
	f.Lambda.Low, f.Lambda.High = f.Lambda.Value, f.Lambda.Value
	f.Sigma.Low, f.Sigma.High = f.Sigma.Value, f.Sigma.Value
	f.Kappa.Low, f.Kappa.High = f.Kappa.Value, f.Kappa.Value
	if f.DF < 1 {
		f.Notes = append(f.Notes, fmt.Sprintf("%d measurements for 3 parameters: no intervals; measure more points or repeat them", f.Points))
		return
	}
	l, s, k := f.Lambda.Value, f.Sigma.Value, f.Kappa.Value
	j := mat.NewDense(len(pts), 3, nil)
	var ssr float64
	for i, p := range pts {
		n := p.N
		d := 1 + s*(n-1) + k*n*(n-1)
		j.Set(i, 0, n/d)
		j.Set(i, 1, -l*n*(n-1)/(d*d))
		j.Set(i, 2, -l*n*n*(n-1)/(d*d))
		ssr += f.Residuals[i] * f.Residuals[i]
	}
	var jtj mat.SymDense
	jtj.SymOuterK(1, j.T())
	var chol mat.Cholesky
	if !chol.Factorize(&jtj) {
		f.Notes = append(f.Notes, "the sweep does not determine all three parameters (singular Jacobian): no intervals; measure more distinct N")
		return
	}
	cov := mat.NewSymDense(3, nil)
	if err := chol.InverseTo(cov); err != nil {
		f.Notes = append(f.Notes, "covariance not invertible: no intervals")
		return
	}
	cov.ScaleSym(ssr/float64(f.DF), cov)
	f.cov = cov
	f.t = distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(f.DF)}.Quantile(1 - stats.Alpha/2)
	f.Intervals = true
	set := func(p *Param, i int, lo, hi float64) {
		h := f.t * math.Sqrt(math.Max(0, cov.At(i, i)))
		p.Low, p.High = math.Max(lo, p.Value-h), math.Min(hi, p.Value+h)
	}
	set(&f.Lambda, 0, 0, math.Inf(1))
	set(&f.Sigma, 1, 0, 1)
	set(&f.Kappa, 2, 0, math.Inf(1))
}

// peak computes N* and X_max with their delta-method intervals.
func (f *Fit) peak() {
	nStar := func(th [3]float64) float64 {
		if th[2] <= 0 {
			return math.Inf(1)
		}
		return math.Sqrt(math.Max(0, 1-th[1]) / th[2])
	}
	xMax := func(th [3]float64) float64 {
		if n := nStar(th); !math.IsInf(n, 1) {
			return usl(th, math.Max(1, n))
		}
		if th[1] > 0 {
			return th[0] / th[1]
		}
		return math.Inf(1)
	}
	th := f.theta()
	f.Peak = Param{Value: nStar(th)}
	f.XMax = Param{Value: xMax(th)}
	for _, x := range []struct {
		p *Param
		g func([3]float64) float64
	}{{&f.Peak, nStar}, {&f.XMax, xMax}} {
		x.p.Low, x.p.High = x.p.Value, x.p.Value
		if f.Intervals && !math.IsInf(x.p.Value, 0) {
			h := f.t * f.se(x.g)
			if math.IsNaN(h) {
				// The figure is too ill-conditioned to linearise.
				h = math.Inf(1)
			}
			x.p.Low, x.p.High = math.Max(0, x.p.Value-h), x.p.Value+h
		}
	}
	if f.Intervals && f.Kappa.Low <= 0 && f.Kappa.Value > 0 {
		// κ is not distinguishable from 0: the peak may lie anywhere
		// beyond the measured range, and so may the ceiling.
		f.Peak.High, f.XMax.High = math.Inf(1), math.Inf(1)
	}
}

// describe writes the notes a reader needs.
func (f *Fit) describe() {
	f.Flat = f.Sigma.Value >= FlatSigma
	switch {
	case f.Flat:
		f.Notes = append(f.Notes, fmt.Sprintf("flat: sigma = %.2f, close to 1: throughput does not grow with N; the setup is serialized, and more N add nothing", f.Sigma.Value))
	case f.Peak.Value < f.MinN+0.5:
		f.Notes = append(f.Notes, fmt.Sprintf("retrograde: the peak N* = %.1f lies at or below the smallest measured N (%g): more N lowers throughput", f.Peak.Value, f.MinN))
	case math.IsInf(f.Peak.Value, 1):
		f.Notes = append(f.Notes, "kappa = 0: no retrograde region; the fit predicts throughput rising towards lambda/sigma")
	case f.Peak.Value > f.MaxN:
		f.Notes = append(f.Notes, fmt.Sprintf("the peak N* = %.1f lies beyond the largest measured N (%g): it is the model's extrapolation, not a measurement", f.Peak.Value, f.MaxN))
	}
	if f.Intervals && f.Kappa.Low <= 0 && f.Kappa.Value > 0 {
		f.Notes = append(f.Notes, "kappa's interval includes 0: the peak and X_max are not determined by the measurements")
	}
}

// SortPoints orders points by N, then X, for stable output.
func SortPoints(pts []Point) {
	sort.Slice(pts, func(i, j int) bool {
		if pts[i].N != pts[j].N {
			return pts[i].N < pts[j].N
		}
		return pts[i].X < pts[j].X
	})
}

// MarshalJSON writes infinite bounds (an undetermined peak) as null,
// which JSON can carry and +Inf it cannot.
func (p Param) MarshalJSON() ([]byte, error) {
	num := func(v float64) *float64 {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		Value *float64 `json:"value"`
		Low   *float64 `json:"low"`
		High  *float64 `json:"high"`
	}{num(p.Value), num(p.Low), num(p.High)})
}

// UnmarshalJSON reads what MarshalJSON writes: null is +Inf.
func (p *Param) UnmarshalJSON(data []byte) error {
	var v struct{ Value, Low, High *float64 }
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	get := func(f *float64) float64 {
		if f == nil {
			return math.Inf(1)
		}
		return *f
	}
	p.Value, p.Low, p.High = get(v.Value), get(v.Low), get(v.High)
	return nil
}
