package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/brokerbench/brokerbench/chaos"
)

// Faults: a workload's chaos schedule (package chaos) runs during the
// measured phase against the injectors the runner was given for the
// system (network proxies, broker processes) and against the run's own
// clients. Every fault start and stop becomes a nemesis event in the
// history and a "fault-start"/"fault-stop" event in the result, so
// reports can shade the window.

// faultRun is a running schedule.
type faultRun struct {
	cancel   context.CancelFunc
	done     chan error
	recovery time.Duration // the spec's, defaults applied
}

// startFaults starts the workload's schedule, if it has one.
func (r *run) startFaults(ctx context.Context) (*faultRun, error) {
	if r.w.Chaos == nil {
		return nil, nil
	}
	var inj chaos.Injectors
	if r.r.injectors != nil {
		inj = r.r.injectors(r.sys.Name())
	}
	inj.Clients = clientFaults{r}
	sched, err := chaos.NewSchedule(*r.w.Chaos, inj, r.faultEvent)
	if err != nil {
		return nil, fmt.Errorf("fault schedule on %s: %w", r.sys.Name(), err)
	}
	fctx, cancel := context.WithCancel(ctx)
	fr := &faultRun{cancel: cancel, done: make(chan error, 1), recovery: sched.Spec().Recovery.D()}
	go func() { fr.done <- sched.Run(fctx) }()
	return fr, nil
}

// stop ends the schedule (healing whatever is still broken) and waits
// for it; then it waits the spec's recovery time, so the system settles
// before the drain. Producers keep running through the recovery wait, so
// the measured phase of a run with faults includes it.
func (fr *faultRun) stop(ctx context.Context) error {
	if fr == nil {
		return nil
	}
	fr.cancel()
	err := <-fr.done
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("fault schedule: %w", err)
	}
	return sleepCtx(ctx, fr.recovery)
}

func (r *run) faultEvent(e chaos.Event) {
	kind := "fault-start"
	if e.Kind == "stop" {
		kind = "fault-stop"
	}
	detail := e.Fault
	if e.Err != nil {
		detail += ": " + e.Err.Error()
	}
	r.event(kind, "", nil, detail)
	if r.hist != nil {
		if kind == "fault-start" {
			r.hist.w.NemesisStart(e.Fault)
		} else {
			r.hist.w.NemesisStop(e.Fault)
		}
	}
	r.log.Info("fault "+e.Kind, "fault", e.Fault)
}

// clientFaults carries out crash faults on the run's own clients.
type clientFaults struct{ r *run }

// Crash crashes count clients of role, round robin. A consumer of the
// first subscription crashes through adapters.Consumer.Crash (no commit,
// no leave) and starts again at once as a new incarnation (a new history
// process), as a supervisor would restart a crashed worker. A producer is
// dropped mid-batch: a new client takes over its schedule and the old one
// is closed without flushing, so its sends in flight fail and are
// recorded with an unknown outcome (info), as a crashed process's are.
func (c clientFaults) Crash(ctx context.Context, role string, count int) error {
	r := c.r
	switch role {
	case chaos.RoleConsumers:
	case chaos.RoleProducers:
		return r.crashProducers(ctx, count)
	default:
		return fmt.Errorf("crash %s: only producers and consumers can be crashed", role)
	}
	r.crashMu.Lock()
	defer r.crashMu.Unlock()
	var members []*consumer
	for _, cs := range r.consumers {
		if cs.sub == r.subs[0] && cs.c != nil {
			members = append(members, cs)
		}
	}
	if len(members) == 0 {
		return errors.New("crash consumers: no running consumer")
	}
	var errs []error
	for i := range count {
		cs := members[(r.crashNext+i)%len(members)]
		if err := cs.c.Crash(); err != nil {
			errs = append(errs, fmt.Errorf("crash consumer %s: %w", cs.id, err))
		}
		cs.abandoned()
		cs.c = nil
		r.event("consumer-crash", cs.id, nil, "fault")
		if err := cs.start(context.WithoutCancel(ctx), r); err != nil {
			errs = append(errs, fmt.Errorf("restart consumer %s: %w", cs.id, err))
			continue
		}
		r.event("consumer-join", cs.id, nil, "after crash")
	}
	r.crashNext += count
	return errors.Join(errs...)
}

func (r *run) crashProducers(ctx context.Context, count int) error {
	r.crashMu.Lock()
	defer r.crashMu.Unlock()
	var errs []error
	for i := range count {
		pr := r.producers[(r.crashNextProducer+i)%len(r.producers)]
		fresh, err := r.sys.NewProducer(context.WithoutCancel(ctx), pr.cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("restart producer %d: %w", pr.id, err))
			continue
		}
		old := pr.client.Swap(&producerClient{Producer: fresh, proc: r.hist.newProcess()})
		// An already-cancelled context: no flush, the batch in flight is
		// abandoned as a killed process would abandon it.
		dead, cancel := context.WithCancel(context.Background())
		cancel()
		_ = old.Close(dead)
		r.event("producer-crash", pr.cfg.ID, nil, "fault")
	}
	r.crashNextProducer += count
	return errors.Join(errs...)
}

// crashGuard serialises client crashes with consumer churn.
type crashGuard struct {
	crashMu           sync.Mutex
	crashNext         int
	crashNextProducer int
}
