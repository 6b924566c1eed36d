package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Search defaults; see [SearchConfig].
const (
	DefaultStart     = 1000.0 // msg/s
	DefaultFactor    = 2.0
	DefaultPrecision = 0.05
	DefaultBudget    = 5 * time.Minute
	DefaultMaxProbes = 24
	DefaultProbe     = 10 * time.Second
	DefaultWarmup    = 2 * time.Second
	// confirmRetries is how many lower rates are tried when the
	// confirmation run fails, each 2 x Precision below the last.
	confirmRetries = 2
)

// Reasons a search stops; see [SearchRun.Stop].
const (
	StopConverged = "converged"  // the bracket narrowed to Precision
	StopCeiling   = "ceiling"    // SearchConfig.Max was sustained
	StopFloor     = "floor"      // no rate down to SearchConfig.Min passed
	StopBudget    = "budget"     // the time budget ran out
	StopProbes    = "max-probes" // SearchConfig.MaxProbes were run
)

// SearchConfig bounds one saturation search. The zero value of each field
// means its default. Rates are msg/s over all producers.
type SearchConfig struct {
	// Start is the first offered rate; default DefaultStart. A start near
	// the expected limit saves ramp probes.
	Start float64 `json:"start"`
	// Max is the highest rate probed; 0 = unbounded (MaxProbes and Budget
	// still bound the search). A passing Max ends the search (StopCeiling).
	Max float64 `json:"max,omitempty"`
	// Min is the lowest rate probed when the first probes fail; default
	// Start / 64.
	Min float64 `json:"min"`
	// Factor multiplies the rate between ramp probes (divides it when
	// ramping down), > 1; default 2.
	Factor float64 `json:"factor"`
	// Precision ends the bisection once the lowest failing rate is within
	// a factor (1 + Precision) of the highest passing one; default 0.05.
	Precision float64 `json:"precision"`
	// Budget bounds the wall time of the whole search: no ramp or
	// bisection probe starts unless it and a confirmation run fit in
	// what is left (judged by the longest probe so far), so a search ends
	// within Budget plus at most one probe. Default DefaultBudget.
	// In JSON it is nanoseconds.
	Budget time.Duration `json:"budget"`
	// MaxProbes bounds the ramp and bisection probes; default
	// DefaultMaxProbes. The confirmation runs come on top.
	MaxProbes int `json:"maxProbes"`
}

// Default fills unset fields.
func (c *SearchConfig) Default() {
	if c.Start == 0 {
		c.Start = DefaultStart
	}
	if c.Min == 0 {
		c.Min = c.Start / 64
	}
	if c.Factor == 0 {
		c.Factor = DefaultFactor
	}
	if c.Precision == 0 {
		c.Precision = DefaultPrecision
	}
	if c.Budget == 0 {
		c.Budget = DefaultBudget
	}
	if c.MaxProbes == 0 {
		c.MaxProbes = DefaultMaxProbes
	}
}

// Validate reports the first out-of-range field, named as its workload key
// under maxRate.
func (c SearchConfig) Validate() error {
	switch {
	case !(c.Start > 0) || math.IsInf(c.Start, 0):
		return fmt.Errorf("start: must be a positive rate in msg/s, got %v", c.Start)
	case c.Max < 0 || math.IsNaN(c.Max) || (c.Max > 0 && c.Max < c.Start):
		return fmt.Errorf("max: must be 0 (no ceiling) or at least start (%v msg/s), got %v", c.Start, c.Max)
	case !(c.Min > 0) || c.Min > c.Start:
		return fmt.Errorf("min: must be positive and at most start (%v msg/s), got %v", c.Start, c.Min)
	case !(c.Factor > 1) || math.IsInf(c.Factor, 0):
		return fmt.Errorf("factor: must be above 1 (e.g. 2), got %v", c.Factor)
	case !(c.Precision > 0 && c.Precision < 1):
		return fmt.Errorf("precision: must be a share in (0, 1), e.g. 0.05 for 5%%, got %v", c.Precision)
	case c.Budget <= 0:
		return fmt.Errorf("budget: must be a positive duration such as 5m, got %v", c.Budget)
	case c.MaxProbes < 2:
		return fmt.Errorf("maxProbes: must be at least 2 (one passing and one failing rate bracket the limit), got %d", c.MaxProbes)
	}
	return nil
}

// SearchRun is one repetition of a search.
type SearchRun struct {
	// Found is the highest rate that passed and (when Confirmed) passed
	// again in a confirmation run, msg/s; 0 when no rate passed.
	Found float64 `json:"found"`
	// Confirmed: a confirmation run at Found passed.
	Confirmed bool `json:"confirmed"`
	// Low is the highest passing rate of the ramp and bisection, High the
	// lowest failing one (0 when no rate failed): the limit lies between.
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	// Stop says why the search stopped (Stop* constants).
	Stop string `json:"stop"`
	// Probes in the order they ran.
	Probes []Probe `json:"probes"`
	// Seconds is the search's wall time.
	Seconds float64 `json:"seconds"`
	// Notes explain anything a reader must know (a failed confirmation, a
	// ceiling reached, a budget that ran out before converging).
	Notes []string `json:"notes,omitempty"`
}

// ProbeFunc runs one probe at rate (msg/s) and judges it. An error means
// the search cannot go on (cancellation, a system that cannot be
// reached); a probe that merely fails its objective is a Fail verdict.
type ProbeFunc func(ctx context.Context, phase string, rate float64) (Probe, error)

// searcher is one search in progress.
type searcher struct {
	cfg     SearchConfig
	probe   ProbeFunc
	now     func() time.Time
	start   time.Time
	longest time.Duration
	run     SearchRun
}

// Search finds the highest offered rate that passes: it ramps from
// cfg.Start by cfg.Factor until a rate fails (or down until one passes),
// bisects the bracket geometrically until it is within cfg.Precision, and
// confirms the found rate with one more probe (trying up to two lower
// rates if the confirmation fails). now is the clock (time.Now outside
// tests). cfg must be defaulted and valid.
func Search(ctx context.Context, cfg SearchConfig, probe ProbeFunc, now func() time.Time) (SearchRun, error) {
	s := &searcher{cfg: cfg, probe: probe, now: now, start: now()}
	err := s.search(ctx)
	s.run.Seconds = now().Sub(s.start).Seconds()
	return s.run, err
}

func (s *searcher) search(ctx context.Context) error {
	lo, hi, err := s.ramp(ctx)
	if err != nil {
		return err
	}
	if s.run.Stop == "" {
		lo, hi, err = s.bisect(ctx, lo, hi)
		if err != nil {
			return err
		}
	}
	s.run.Low, s.run.High = lo, hi
	if lo == 0 {
		s.run.Notes = append(s.run.Notes, fmt.Sprintf("no probed rate met the objective (lowest tried %.0f msg/s)", s.lowestTried()))
		return nil
	}
	switch s.run.Stop {
	case StopCeiling:
		s.run.Notes = append(s.run.Notes, fmt.Sprintf("the configured max rate %.0f msg/s was sustained: the system's limit is higher", lo))
	case StopBudget, StopProbes:
		if hi > 0 {
			s.run.Notes = append(s.run.Notes, fmt.Sprintf("stopped (%s) before converging: the limit lies between %.0f and %.0f msg/s", s.run.Stop, lo, hi))
		} else {
			s.run.Notes = append(s.run.Notes, fmt.Sprintf("stopped (%s) before any rate failed: the limit is above %.0f msg/s", s.run.Stop, lo))
		}
	}
	return s.confirm(ctx, lo)
}

// ramp brackets the limit. It returns the highest passing and the lowest
// failing rate (0 when none), or sets Stop when no bracket is possible.
func (s *searcher) ramp(ctx context.Context) (lo, hi float64, err error) {
	rate := s.cfg.Start
	for {
		if stop := s.out(); stop != "" {
			s.run.Stop = stop
			return lo, hi, nil
		}
		p, err := s.do(ctx, PhaseRamp, rate)
		if err != nil {
			return lo, hi, err
		}
		if p.Passed() {
			lo = rate
			if hi > 0 {
				return lo, hi, nil
			}
			if s.cfg.Max > 0 && rate >= s.cfg.Max {
				s.run.Stop = StopCeiling
				return lo, hi, nil
			}
			rate *= s.cfg.Factor
			if s.cfg.Max > 0 {
				rate = math.Min(rate, s.cfg.Max)
			}
			continue
		}
		hi = rate
		if lo > 0 {
			return lo, hi, nil
		}
		rate /= s.cfg.Factor
		if rate < s.cfg.Min {
			s.run.Stop = StopFloor
			return lo, hi, nil
		}
	}
}

// bisect narrows [lo, hi] at the geometric midpoint.
func (s *searcher) bisect(ctx context.Context, lo, hi float64) (float64, float64, error) {
	for hi/lo-1 > s.cfg.Precision {
		if stop := s.out(); stop != "" {
			s.run.Stop = stop
			return lo, hi, nil
		}
		mid := math.Sqrt(lo * hi)
		p, err := s.do(ctx, PhaseBisect, mid)
		if err != nil {
			return lo, hi, err
		}
		if p.Passed() {
			lo = mid
		} else {
			hi = mid
		}
	}
	s.run.Stop = StopConverged
	return lo, hi, nil
}

// confirm runs the found rate again; when it fails, up to confirmRetries
// lower rates are tried while the budget allows.
func (s *searcher) confirm(ctx context.Context, rate float64) error {
	for try := 0; ; try++ {
		p, err := s.do(ctx, PhaseConfirm, rate)
		if err != nil {
			return err
		}
		if p.Passed() {
			s.run.Found, s.run.Confirmed = rate, true
			if try > 0 {
				s.run.Notes = append(s.run.Notes, fmt.Sprintf("confirmed at %.0f msg/s after %d failed confirmation(s) above it: the limit is noisy near %.0f msg/s", rate, try, s.run.Low))
			}
			return nil
		}
		next := rate * (1 - 2*s.cfg.Precision)
		if try >= confirmRetries || next < s.cfg.Min || s.elapsed()+s.longest > s.cfg.Budget {
			s.run.Found = rate
			s.run.Notes = append(s.run.Notes, fmt.Sprintf("not confirmed: the confirmation run at %.0f msg/s failed (%s)", rate, joinReasons(p.Reasons)))
			return nil
		}
		rate = next
	}
}

// out returns why no further ramp or bisection probe may start, or "".
// A probe starts only if it and the confirmation fit in the budget.
func (s *searcher) out() string {
	if len(s.run.Probes) >= s.cfg.MaxProbes {
		return StopProbes
	}
	if s.elapsed()+2*s.longest > s.cfg.Budget {
		return StopBudget
	}
	return ""
}

func (s *searcher) elapsed() time.Duration { return s.now().Sub(s.start) }

func (s *searcher) do(ctx context.Context, phase string, rate float64) (Probe, error) {
	if err := ctx.Err(); err != nil {
		return Probe{}, err
	}
	t0 := s.now()
	p, err := s.probe(ctx, phase, rate)
	if err != nil {
		return p, fmt.Errorf("probe at %.0f msg/s: %w", rate, err)
	}
	took := s.now().Sub(t0)
	s.longest = max(s.longest, took)
	p.Phase, p.Offered, p.Wall = phase, rate, took.Seconds()
	s.run.Probes = append(s.run.Probes, p)
	return p, nil
}

func (s *searcher) lowestTried() float64 {
	low := math.Inf(1)
	for _, p := range s.run.Probes {
		low = math.Min(low, p.Offered)
	}
	return low
}

func joinReasons(rs []string) string {
	if len(rs) == 0 {
		return "no reason recorded"
	}
	out := rs[0]
	for _, r := range rs[1:] {
		out += "; " + r
	}
	return out
}

// ErrNoSearch is returned by functions that need a search record where the
// result holds none.
var ErrNoSearch = errors.New("no capacity search")
