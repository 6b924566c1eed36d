package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Event kinds.
const (
	// EventStart: a fault occurrence is in effect from Event.Time on.
	EventStart = "start"
	// EventStop: a fault occurrence is healed at Event.Time.
	EventStop = "stop"
)

// Event reports the start or stop of one fault occurrence. The runner
// records it in the history as
// {"process":"nemesis","type":"info","f":Kind,"value":Fault} and as an
// annotated window in the results.
type Event struct {
	// Time is when the occurrence began (taken just before injecting, so
	// the window covers the whole fault) or ended (taken once healed, e.g.
	// after a killed broker is ready again). It carries a monotonic reading.
	Time time.Time
	// Kind is EventStart or EventStop.
	Kind string
	// Fault describes the fault (FaultSpec.String), e.g. "kill broker".
	Fault string
	// Index is the fault's index in Spec.Faults; with Occurrence it pairs
	// a stop with its start.
	Index int
	// Occurrence counts the fault's occurrences from 0.
	Occurrence int
	// Err is set when injecting (on the start event) or healing (on the
	// stop event) failed. A failed injection is followed at once by its
	// stop event, and ends the schedule.
	Err error
}

// Schedule runs the faults of a Spec on time against an Injector. Create
// it with NewSchedule; run it once.
type Schedule struct {
	spec    Spec
	inj     Injector
	onEvent func(Event)
	evMu    sync.Mutex // serialises onEvent calls
}

// NewSchedule validates spec and returns a schedule that carries it out
// with inj and reports every fault start and stop to onEvent (may be nil).
// onEvent calls are serialised, so it need not be safe for concurrent use,
// but it must not block for long: faults wait for it.
func NewSchedule(spec Spec, inj Injector, onEvent func(Event)) (*Schedule, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if inj == nil {
		return nil, fmt.Errorf("new schedule: %w: injector is nil", ErrNoInjector)
	}
	if in, ok := inj.(Injectors); ok {
		if err := in.Check(spec); err != nil {
			return nil, fmt.Errorf("new schedule: %w", err)
		}
	}
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	return &Schedule{spec: spec.Default(), inj: inj, onEvent: onEvent}, nil
}

// Spec returns the schedule's spec with defaults applied (Recovery is
// what the runner waits after Run returns, before draining).
func (s *Schedule) Spec() Spec { return s.spec }

// Run carries out the schedule: every fault on its own timeline, measured
// from the call to Run. It returns when every occurrence is done or ctx
// ends (the normal end for RepeatForever), and in both cases only after
// every fault in effect is healed and, if inj is a HealAller, HealAll has
// run. Heals run even after ctx ends. The first failed injection stops the
// schedule; Run returns every injection and heal error joined, nil on
// success or when ctx ended the schedule.
func (s *Schedule) Run(ctx context.Context) error {
	begin := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for i, f := range s.spec.Faults {
		wg.Go(func() {
			if err := s.runFault(ctx, begin, i, f); err != nil {
				fail(err)
				if errors.Is(err, errInject) {
					cancel() // an untested fault makes the run meaningless
				}
			}
		})
	}
	wg.Wait()
	if h, ok := s.inj.(HealAller); ok {
		if err := h.HealAll(context.WithoutCancel(ctx)); err != nil {
			fail(fmt.Errorf("final heal: %w", err))
		}
	}
	return errors.Join(errs...)
}

// errInject marks injection failures inside Run.
var errInject = errors.New("inject failed")

// runFault runs the occurrences of fault i until they are done or ctx
// ends. It returns the first injection error (marked with errInject) or
// heal errors.
func (s *Schedule) runFault(ctx context.Context, begin time.Time, i int, f FaultSpec) error {
	desc := f.String()
	var errs []error
	for k := 0; f.Repeat == RepeatForever || k < f.Repeat; k++ {
		at := begin.Add(f.Start.D() + time.Duration(k)*f.Interval.D())
		if !sleepUntil(ctx, at) {
			break
		}
		start := time.Now()
		heal, err := s.inj.Inject(ctx, f)
		if err != nil {
			err = fmt.Errorf("faults[%d] %s occurrence %d: %w: %w", i, desc, k, errInject, err)
			s.emit(Event{Time: start, Kind: EventStart, Fault: desc, Index: i, Occurrence: k, Err: err})
			s.emit(Event{Time: time.Now(), Kind: EventStop, Fault: desc, Index: i, Occurrence: k, Err: err})
			return errors.Join(append(errs, err)...)
		}
		s.emit(Event{Time: start, Kind: EventStart, Fault: desc, Index: i, Occurrence: k})
		// Heal when the duration is over, or at once if ctx ends first.
		sleepUntil(ctx, start.Add(f.Duration.D()))
		err = heal(context.WithoutCancel(ctx))
		if err != nil {
			err = fmt.Errorf("faults[%d] %s occurrence %d: heal: %w", i, desc, k, err)
			errs = append(errs, err)
		}
		s.emit(Event{Time: time.Now(), Kind: EventStop, Fault: desc, Index: i, Occurrence: k, Err: err})
	}
	return errors.Join(errs...)
}

func (s *Schedule) emit(e Event) {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	s.onEvent(e)
}

// sleepUntil waits until t and reports true, or false if ctx ends first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
