package runner

import (
	"context"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// notApplicableError ends a run as not-applicable after its setup began
// (the teardown still runs): the system turned out unable to give what the
// workload requires.
type notApplicableError struct{ reason string }

func (e notApplicableError) Error() string { return "not applicable: " + e.reason }

// checkDurability reads back the durability the system gives the run's
// first topic (every topic is created alike) and records it for the
// result. A workload with durabilityRequired whose level is not reached
// ends as not-applicable instead of measuring something else.
func (r *run) checkDurability(ctx context.Context) error {
	rep := adapters.DurabilityReport{Requested: adapters.Durability(r.w.Durability)}
	d, ok := r.sys.(adapters.Durabler)
	switch {
	case !ok:
		rep.Evidence = []string{r.sys.Name() + " adapter cannot read back durability"}
	case len(r.topics) > 0:
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		got, err := d.Durability(dctx, r.topics[0].name, parseAcks(r.w.Delivery.Acks))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.Evidence = []string{"read back failed: " + err.Error()}
			break
		}
		rep.Effective, rep.Evidence = got.Effective, got.Evidence
	}
	r.durability = &rep
	r.checkCapacity(ctx)
	if !rep.Met() {
		r.log.Warn("durability below the requested level", "requested", rep.Requested, "effective", rep.Effective, "evidence", rep.Evidence)
		if r.w.DurabilityRequired {
			return notApplicableError{"durability " + string(rep.Requested) + " required, but " + r.sys.Name() + " provides " + rep.String()}
		}
	}
	return nil
}

// checkCapacity asks the adapter whether the system can hold what the run
// plans to store (adapters.CapacityWarner); its warnings go to the log and
// the result, and a failed check is one of them.
func (r *run) checkCapacity(ctx context.Context) {
	cw, ok := r.sys.(adapters.CapacityWarner)
	if !ok || len(r.topics) == 0 {
		return
	}
	plan := adapters.LoadPlan{Topic: r.topics[0].name, Topics: len(r.topics), Partitions: r.w.PartitionsPerTopic, MessageSize: r.w.MessageSize}
	if r.w.ProducerRate > 0 {
		plan.Messages = int64(r.w.ProducerRate * (r.w.WarmupDuration + r.w.TestDuration).Seconds())
	}
	if b := r.w.BacklogBytes(); b > 0 && r.w.MessageSize > 0 {
		plan.Messages += b / int64(r.w.MessageSize)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	warnings, err := cw.CapacityWarnings(cctx, plan)
	cancel()
	if err != nil {
		warnings = append(warnings, "capacity check failed: "+err.Error())
	}
	for _, w := range warnings {
		r.log.Warn(w)
	}
	r.warnings = append(r.warnings, warnings...)
}
