package runner

import (
	"context"
	"time"
)

// churn makes consumers of the first subscription leave and rejoin every
// Churn.Interval until ctx is done, round robin over its consumers. A
// departed consumer rejoins after Churn.Downtime with the same id and, for
// static membership, the same group.instance.id, so a static member can
// reclaim its partitions without a rebalance.
func (r *run) churn(ctx context.Context) {
	ch := r.w.Churn
	var members []*consumer
	for _, c := range r.consumers {
		if c.sub == r.subs[0] {
			members = append(members, c)
		}
	}
	next := 0
	tick := time.NewTicker(ch.Interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		batch := make([]*consumer, 0, ch.Consumers)
		for range ch.Consumers {
			batch = append(batch, members[next%len(members)])
			next++
		}
		for _, c := range batch {
			r.leave(ctx, c)
		}
		if sleepCtx(ctx, ch.Downtime) != nil && ctx.Err() != nil {
			// Rejoin even when the run is ending, so that teardown
			// closes a live consumer and the group ends clean.
			ctx = context.WithoutCancel(ctx)
		}
		for _, c := range batch {
			if err := c.start(ctx, r); err != nil {
				r.log.Error("consumer failed to rejoin", "consumer", c.id, "err", err)
				r.event("consumer-join-failed", c.id, nil, err.Error())
				continue
			}
			r.event("consumer-join", c.id, nil, r.w.Churn.Membership)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (r *run) leave(ctx context.Context, c *consumer) {
	var err error
	kind := "consumer-leave"
	if r.w.Churn.Leave == "crash" {
		kind = "consumer-crash"
		err = c.c.Crash()
	} else {
		err = c.c.Close(ctx)
	}
	c.c = nil
	if err != nil {
		r.log.Warn("consumer leave reported an error", "consumer", c.id, "err", err)
	}
	r.event(kind, c.id, nil, "")
}
