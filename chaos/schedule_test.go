package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeInjector records when each fault is injected and healed, in the
// synctest bubble's fake time relative to begin.
type fakeInjector struct {
	begin time.Time

	mu       sync.Mutex
	log      []string
	active   int
	healAll  int
	failKind Kind          // Inject fails for this kind
	healCost time.Duration // time a heal takes (as a restart does)
}

func (f *fakeInjector) Inject(_ context.Context, fs FaultSpec) (func(context.Context) error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fs.Kind == f.failKind {
		return nil, errors.New("injector refused")
	}
	f.active++
	f.log = append(f.log, fmt.Sprintf("%v inject %s", time.Since(f.begin), fs))
	return onceHeal(func(ctx context.Context) error {
		time.Sleep(f.healCost) // fake time: models a slow restart
		f.mu.Lock()
		defer f.mu.Unlock()
		f.active--
		f.log = append(f.log, fmt.Sprintf("%v heal %s", time.Since(f.begin), fs))
		return nil
	}), nil
}

func (f *fakeInjector) HealAll(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.healAll++
	return nil
}

func (f *fakeInjector) snapshot() ([]string, int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log), f.active, f.healAll
}

// eventLog collects events as "offset kind fault#occurrence".
type eventLog struct {
	begin  time.Time
	events []string
	errs   []error
}

func (l *eventLog) add(e Event) {
	l.events = append(l.events, fmt.Sprintf("%v %s %s #%d", e.Time.Sub(l.begin), e.Kind, e.Fault, e.Occurrence))
	if e.Err != nil {
		l.errs = append(l.errs, e.Err)
	}
}

func TestScheduleTiming(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		begin := time.Now()
		inj := &fakeInjector{begin: begin, healCost: 500 * time.Millisecond}
		evs := &eventLog{begin: begin}
		spec := Spec{Faults: []FaultSpec{
			{Kind: KindKill, Start: dur(5 * time.Second), Interval: dur(10 * time.Second), Duration: dur(2 * time.Second), Repeat: 3},
			{Kind: KindBlackhole, Target: RoleConsumers, Start: dur(6 * time.Second), Duration: dur(1500 * time.Millisecond)},
		}}
		s, err := NewSchedule(spec, inj, evs.add)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(t.Context()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := time.Since(begin); got != 27500*time.Millisecond {
			t.Errorf("Run took %v, want 27.5s (last kill at 25s + 2s + 0.5s restart)", got)
		}
		want := []string{
			"5s start kill broker #0",
			"6s start blackhole consumers both #0",
			"7.5s stop kill broker #0",
			"8s stop blackhole consumers both #0",
			"15s start kill broker #1",
			"17.5s stop kill broker #1",
			"25s start kill broker #2",
			"27.5s stop kill broker #2",
		}
		if !slices.Equal(evs.events, want) {
			t.Errorf("events:\n%s\nwant:\n%s", strings.Join(evs.events, "\n"), strings.Join(want, "\n"))
		}
		if _, active, healAll := inj.snapshot(); active != 0 || healAll != 1 {
			t.Errorf("after Run: %d faults active, HealAll called %d times; want 0 and 1", active, healAll)
		}
	})
}

func TestScheduleCancelHealsActiveFault(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		begin := time.Now()
		inj := &fakeInjector{begin: begin}
		evs := &eventLog{begin: begin}
		spec := Spec{Faults: []FaultSpec{
			{Kind: KindPause, Start: dur(time.Second), Interval: dur(4 * time.Second), Duration: dur(3 * time.Second), Repeat: RepeatForever},
		}}
		s, err := NewSchedule(spec, inj, evs.add)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := s.Run(ctx); err != nil {
			t.Fatalf("Run after ctx ended = %v, want nil", err)
		}
		if got := time.Since(begin); got != 10*time.Second {
			t.Errorf("Run returned after %v, want 10s (when ctx ended)", got)
		}
		want := []string{
			"1s start pause broker #0", "4s stop pause broker #0",
			"5s start pause broker #1", "8s stop pause broker #1",
			"9s start pause broker #2", "10s stop pause broker #2", // cut short by ctx
		}
		if !slices.Equal(evs.events, want) {
			t.Errorf("events:\n%s\nwant:\n%s", strings.Join(evs.events, "\n"), strings.Join(want, "\n"))
		}
		if _, active, healAll := inj.snapshot(); active != 0 || healAll != 1 {
			t.Errorf("after Run: %d faults active, HealAll called %d times; want 0 and 1", active, healAll)
		}
	})
}

func TestScheduleInjectFailureStopsAndHeals(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		begin := time.Now()
		inj := &fakeInjector{begin: begin, failKind: KindKill}
		evs := &eventLog{begin: begin}
		spec := Spec{Faults: []FaultSpec{
			{Kind: KindDown, Start: dur(time.Second), Duration: dur(time.Minute)},
			{Kind: KindKill, Start: dur(2 * time.Second)},
		}}
		s, err := NewSchedule(spec, inj, evs.add)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Run(t.Context())
		if err == nil || !strings.Contains(err.Error(), "injector refused") || !strings.Contains(err.Error(), "faults[1] kill broker") {
			t.Fatalf("Run = %v, want the kill's injection error", err)
		}
		if got := time.Since(begin); got != 2*time.Second {
			t.Errorf("Run returned after %v, want 2s (at the failure, not after the 1m down)", got)
		}
		want := []string{
			"1s start down all #0",
			"2s start kill broker #0", "2s stop kill broker #0", // both carry the error
			"2s stop down all #0",
		}
		if !slices.Equal(evs.events, want) {
			t.Errorf("events:\n%s\nwant:\n%s", strings.Join(evs.events, "\n"), strings.Join(want, "\n"))
		}
		if len(evs.errs) != 2 {
			t.Errorf("%d events carry an error, want 2 (start and stop of the failed kill)", len(evs.errs))
		}
		if _, active, _ := inj.snapshot(); active != 0 {
			t.Errorf("%d faults still active after Run", active)
		}
	})
}

func TestNewScheduleRejects(t *testing.T) {
	t.Parallel()
	if _, err := NewSchedule(Spec{Faults: []FaultSpec{{Kind: KindPause}}}, &fakeInjector{}, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("invalid spec: err = %v, want ErrInvalidSpec", err)
	}
	if _, err := NewSchedule(Spec{}, nil, nil); !errors.Is(err, ErrNoInjector) {
		t.Errorf("nil injector: err = %v, want ErrNoInjector", err)
	}
	spec := Spec{Faults: []FaultSpec{
		{Kind: KindKill, Target: "redis"},
		{Kind: KindBlackhole, Duration: dur(time.Second)},
		{Kind: KindCrash, Target: RoleConsumers},
	}}
	_, err := NewSchedule(spec, Injectors{Processes: map[string]*Process{}}, nil)
	if !errors.Is(err, ErrNoInjector) {
		t.Fatalf("unroutable faults: err = %v, want ErrNoInjector", err)
	}
	for _, want := range []string{`faults[0]`, `no process named "redis"`, "faults[1]", "needs a chaos.Network", "faults[2]", "ClientFaults"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// crashRecorder is a ClientFaults that records its calls.
type crashRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (c *crashRecorder) Crash(_ context.Context, role string, count int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, fmt.Sprintf("%s %d", role, count))
	return nil
}

func TestScheduleClientCrash(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		begin := time.Now()
		rec := &crashRecorder{}
		evs := &eventLog{begin: begin}
		spec := Spec{Faults: []FaultSpec{
			{Kind: KindCrash, Target: RoleConsumers, Count: 2, Start: dur(time.Second), Interval: dur(2 * time.Second), Repeat: 2},
			{Kind: KindCrash, Target: RoleProducers, Start: dur(4 * time.Second)},
		}}
		s, err := NewSchedule(spec, Injectors{Clients: rec}, evs.add)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if want := []string{"consumers 2", "consumers 2", "producers 1"}; !slices.Equal(rec.calls, want) {
			t.Errorf("crashes = %v, want %v", rec.calls, want)
		}
		want := []string{
			"1s start crash 2 consumers #0", "1s stop crash 2 consumers #0",
			"3s start crash 2 consumers #1", "3s stop crash 2 consumers #1",
			"4s start crash 1 producers #0", "4s stop crash 1 producers #0",
		}
		if !slices.Equal(evs.events, want) {
			t.Errorf("events:\n%s\nwant:\n%s", strings.Join(evs.events, "\n"), strings.Join(want, "\n"))
		}
	})
}
