package chaos

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Injector carries out faults. Inject starts fault f (already validated
// and defaulted) and returns once it is in effect, with a heal function
// that ends it and returns once it is healed (for a kill: once the broker
// is restarted and ready). Heal functions must be idempotent. Inject and
// heal may be called concurrently for different faults.
type Injector interface {
	Inject(ctx context.Context, f FaultSpec) (heal func(context.Context) error, err error)
}

// HealAller is an optional interface of an Injector: HealAll undoes every
// fault it knows of. Schedule.Run calls it last, as a safety net.
type HealAller interface {
	HealAll(ctx context.Context) error
}

// ClientFaults is implemented by the runner to carry out client faults.
// Crash must crash count clients of role (RoleProducers or RoleConsumers)
// and return once they are down: a consumer through adapters.Consumer.Crash
// (no commit, no leave), a producer by dropping it without Flush, so that
// its batch in flight is lost or left unacknowledged. Replacing them, under
// new history process ids, is the runner's business. It must be safe to
// call concurrently with the running workload.
type ClientFaults interface {
	Crash(ctx context.Context, role string, count int) error
}

// Injectors routes each fault to what carries it out: network kinds to
// Network, process kinds to Processes[f.Target], crash to Clients. Unset
// members only matter if a fault needs them (see Check).
type Injectors struct {
	// Network carries out latency, bandwidth, blackhole, reset and down.
	Network *Network
	// Processes carries out kill and pause, keyed by fault target (usually
	// TargetBroker).
	Processes map[string]*Process
	// Clients carries out crash.
	Clients ClientFaults

	_ struct{} // forces keyed literals
}

var (
	_ Injector  = Injectors{}
	_ HealAller = Injectors{}
	_ Injector  = (*Network)(nil)
	_ HealAller = (*Network)(nil)
	_ Injector  = (*Process)(nil)
	_ HealAller = (*Process)(nil)
)

// Check reports, before a run starts, every fault of spec that in cannot
// carry out, wrapping ErrNoInjector.
func (in Injectors) Check(spec Spec) error {
	var errs []error
	for i, f := range spec.Default().Faults {
		if err := in.route(f); err != nil {
			errs = append(errs, fmt.Errorf("faults[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func (in Injectors) route(f FaultSpec) error {
	switch {
	case f.Kind.IsNetwork() && in.Network == nil:
		return fmt.Errorf("%w: %s needs a chaos.Network (route the clients through its proxies)", ErrNoInjector, f)
	case f.Kind.IsProcess() && in.Processes[f.Target] == nil:
		names := make([]string, 0, len(in.Processes))
		for n := range in.Processes {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("%w: %s: no process named %q (have: %s); process faults need a broker the suite started itself",
			ErrNoInjector, f, f.Target, strings.Join(names, ", "))
	case f.Kind.IsClient() && in.Clients == nil:
		return fmt.Errorf("%w: %s needs the runner's ClientFaults", ErrNoInjector, f)
	case !f.Kind.IsNetwork() && !f.Kind.IsProcess() && !f.Kind.IsClient():
		return fmt.Errorf("%w: unknown kind %q", ErrNoInjector, f.Kind)
	}
	return nil
}

// Inject routes f to its injector.
func (in Injectors) Inject(ctx context.Context, f FaultSpec) (func(context.Context) error, error) {
	f = f.Default()
	if err := in.route(f); err != nil {
		return nil, err
	}
	switch {
	case f.Kind.IsNetwork():
		return in.Network.Inject(ctx, f)
	case f.Kind.IsProcess():
		return in.Processes[f.Target].Inject(ctx, f)
	}
	if err := in.Clients.Crash(ctx, f.Target, f.Count); err != nil {
		return nil, fmt.Errorf("inject %s: %w", f, err)
	}
	return func(context.Context) error { return nil }, nil
}

// HealAll heals the network and brings every process back (resumed,
// restarted if killed), concurrently.
func (in Injectors) HealAll(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	add := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	if in.Network != nil {
		wg.Go(func() { add(in.Network.HealAll(ctx)) })
	}
	for _, p := range in.Processes {
		wg.Go(func() { add(p.HealAll(ctx)) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Inject carries out a kill or pause fault on p. Healing a kill restarts
// p (same port, same data directory) and waits for readiness; healing a
// pause resumes it. Either heal is a no-op when there is nothing to undo
// (a paused process killed meanwhile, a killed process already restarted).
func (p *Process) Inject(ctx context.Context, f FaultSpec) (func(context.Context) error, error) {
	switch f.Kind {
	case KindKill:
		if err := p.Kill(ctx); err != nil {
			return nil, fmt.Errorf("inject %s: %w", f, err)
		}
		return onceHeal(func(ctx context.Context) error {
			err := p.Start(ctx)
			if errors.Is(err, ErrAlreadyRunning) {
				return nil
			}
			return err
		}), nil
	case KindPause:
		if err := p.Pause(); err != nil {
			return nil, fmt.Errorf("inject %s: %w", f, err)
		}
		return onceHeal(func(context.Context) error {
			err := p.Resume()
			if errors.Is(err, ErrNotRunning) {
				return nil
			}
			return err
		}), nil
	}
	return nil, fmt.Errorf("inject %s into process %s: %w: not a process fault", f, p.cfg.Name, ErrNoInjector)
}

// HealAll resumes p if paused and restarts it if it was started and is
// down now. A process stopped with Stop or Close stays down.
func (p *Process) HealAll(ctx context.Context) error {
	p.mu.Lock()
	want, running, paused := p.want && !p.closed, p.runningLocked(), p.paused
	p.mu.Unlock()
	switch {
	case !want:
		return nil
	case running && paused:
		if err := p.Resume(); err != nil && !errors.Is(err, ErrNotRunning) {
			return fmt.Errorf("heal all: %w", err)
		}
		return nil
	case !running:
		if err := p.Start(ctx); err != nil && !errors.Is(err, ErrAlreadyRunning) {
			return fmt.Errorf("heal all: %w", err)
		}
	}
	return nil
}

// onceHeal makes heal idempotent: the first call runs it, later calls
// return its result.
func onceHeal(heal func(context.Context) error) func(context.Context) error {
	var (
		once sync.Once
		err  error
	)
	return func(ctx context.Context) error {
		once.Do(func() { err = heal(ctx) })
		return err
	}
}
