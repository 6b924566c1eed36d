package chaos

import (
	"errors"
	"fmt"
	"time"
)

// Validate checks s (with defaults applied) and returns nil or an error
// wrapping ErrInvalidSpec that lists every problem, each naming the fault
// by index and description, the key at fault and what to write instead.
func (s Spec) Validate() error {
	d := s.Default()
	var errs []error
	if d.Recovery < 0 {
		errs = append(errs, fmt.Errorf("%w: recovery: must not be negative, got %v", ErrInvalidSpec, d.Recovery))
	}
	for i, f := range d.Faults {
		if err := f.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("faults[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks one fault (with defaults applied); the error wraps
// ErrInvalidSpec and lists every problem.
func (f FaultSpec) Validate() error {
	f = f.Default()
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	if !knownKind(f.Kind) {
		bad("kind: unknown kind %q; use one of %v", f.Kind, kinds)
		return f.problems(probs)
	}
	f.validateTarget(bad)
	f.validateTiming(bad)
	f.validateParams(bad)
	return f.problems(probs)
}

// problems joins the problems found in f into one error.
func (f FaultSpec) problems(probs []string) error {
	if len(probs) == 0 {
		return nil
	}
	errs := make([]error, len(probs))
	for i, p := range probs {
		errs[i] = fmt.Errorf("%w: fault %q: %s", ErrInvalidSpec, f.Kind, p)
	}
	return errors.Join(errs...)
}

func knownKind(k Kind) bool {
	for _, want := range kinds {
		if k == want {
			return true
		}
	}
	return false
}

func (f FaultSpec) validateTarget(bad func(string, ...any)) {
	switch {
	case f.Kind.IsNetwork():
		switch f.Target {
		case TargetAll, RoleProducers, RoleConsumers, RoleAdmin:
		default:
			bad("target: %q is not a network target; use %s, %s, %s or %s", f.Target, TargetAll, RoleProducers, RoleConsumers, RoleAdmin)
		}
		switch {
		case f.Kind == KindDown && f.Direction != "":
			bad("direction: a down proxy cuts both directions; remove direction")
		case f.Kind != KindDown && f.Direction != DirBoth && f.Direction != DirUpstream && f.Direction != DirDownstream:
			bad("direction: %q is not a direction; use %s, %s or %s", f.Direction, DirBoth, DirUpstream, DirDownstream)
		}
	case f.Kind.IsProcess():
		if f.Direction != "" {
			bad("direction: only network faults have a direction; remove it")
		}
	case f.Kind.IsClient():
		if f.Target != RoleProducers && f.Target != RoleConsumers {
			bad("target: crash needs target %s or %s, got %q", RoleProducers, RoleConsumers, f.Target)
		}
		if f.Direction != "" {
			bad("direction: only network faults have a direction; remove it")
		}
	}
}

func (f FaultSpec) validateTiming(bad func(string, ...any)) {
	if f.Start < 0 {
		bad("start: must not be negative, got %v", f.Start)
	}
	if f.Interval < 0 {
		bad("interval: must not be negative, got %v", f.Interval)
	}
	switch {
	case f.Duration < 0:
		bad("duration: must not be negative, got %v", f.Duration)
	case f.Kind.IsClient() && f.Duration != 0:
		bad("duration: a crash is instantaneous; remove duration (the runner replaces crashed clients)")
	case (f.Kind.IsNetwork() || f.Kind == KindPause) && f.Duration == 0:
		bad("duration: required, e.g. duration: 5s (how long each occurrence lasts before it heals)")
	}
	switch {
	case f.Repeat < RepeatForever:
		bad("repeat: must be a positive count or -1 (until the run ends), got %d", f.Repeat)
	case f.Repeat == 1:
		// A single occurrence needs no interval; one given is harmless.
	case f.Interval == 0:
		bad("interval: required with repeat %d, e.g. interval: 10s", f.Repeat)
	case f.Interval <= f.Duration:
		bad("interval: %v must be greater than duration %v so that the fault heals between occurrences", f.Interval, f.Duration)
	}
}

func (f FaultSpec) validateParams(bad func(string, ...any)) {
	if f.Kind == KindLatency {
		switch {
		case f.Latency < Duration(time.Millisecond):
			bad("latency: required, at least 1ms, e.g. latency: 50ms; got %v", f.Latency)
		case f.Latency.D()%time.Millisecond != 0:
			bad("latency: %v is finer than the 1ms resolution of the proxy", f.Latency)
		}
		switch {
		case f.Jitter < 0 || f.Jitter > f.Latency:
			bad("jitter: must be between 0 and latency %v, got %v", f.Latency, f.Jitter)
		case f.Jitter.D()%time.Millisecond != 0:
			bad("jitter: %v is finer than the 1ms resolution of the proxy", f.Jitter)
		}
	} else {
		if f.Latency != 0 {
			bad("latency: only for kind latency; remove it")
		}
		if f.Jitter != 0 {
			bad("jitter: only for kind latency; remove it")
		}
	}
	if f.Kind == KindBandwidth {
		if f.BytesPerSecond < 1000 {
			bad("bytesPerSecond: required, at least 1000, e.g. bytesPerSecond: 1000000; got %d", f.BytesPerSecond)
		}
	} else if f.BytesPerSecond != 0 {
		bad("bytesPerSecond: only for kind bandwidth; remove it")
	}
	if f.Kind.IsClient() {
		if f.Count < 1 {
			bad("count: must be at least 1, got %d", f.Count)
		}
	} else if f.Count != 0 {
		bad("count: only for kind crash; remove it")
	}
}
