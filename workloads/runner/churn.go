package runner

import (
	"context"
	"time"
)

// churn makes consumers of the first subscription leave and rejoin every
// Churn.Interval until ctx is done, round robin over its consumers (of
// every shard: each shard churns its own on the common schedule). A
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
	began := time.Now()
	tick := time.NewTicker(ch.Interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		// The round robin is over the subscription's consumers of every
		// shard (global indexes; this shard runs ConsumersLo..Hi-1), so
		// shards ticking on their common schedule churn together exactly
		// the consumers one machine would; a shard owning none of this
		// tick's batch sits it out. The tick's number comes from the
		// clock, not from counting ticks, so a shard whose churn fell
		// behind (the ticker dropped a tick) stays in step.
		next := (int(time.Since(began)/ch.Interval) - 1) * ch.Consumers
		batch := make([]*consumer, 0, ch.Consumers)
		for range ch.Consumers {
			if g := next % r.w.ConsumerPerSubscription; g >= r.plan.ConsumersLo && g < r.plan.ConsumersHi {
				batch = append(batch, members[g-r.plan.ConsumersLo])
			}
			next++
		}
		if len(batch) == 0 {
			continue
		}
		// Membership changes run to completion even when the run ends
		// meanwhile, so that teardown finds every consumer live and the
		// group clean; only the wait between them is cut short.
		opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), churnOpTimeout)
		r.crashMu.Lock()
		for _, c := range batch {
			r.leave(opCtx, c)
		}
		_ = sleepCtx(ctx, ch.Downtime)
		for _, c := range batch {
			if err := c.start(opCtx, r); err != nil {
				r.log.Error("consumer failed to rejoin", "consumer", c.id, "err", err)
				r.event("consumer-join-failed", c.id, nil, err.Error())
				continue
			}
			r.event("consumer-join", c.id, nil, r.w.Churn.Membership)
		}
		r.crashMu.Unlock()
		cancel()
	}
}

// churnOpTimeout bounds one consumer's leave or rejoin.
const churnOpTimeout = 30 * time.Second

func (r *run) leave(ctx context.Context, c *consumer) {
	if c.c == nil {
		return // its last rejoin failed; it is already gone
	}
	var err error
	kind := "consumer-leave"
	if r.w.Churn.Leave == "crash" {
		kind = "consumer-crash"
		err = c.c.Crash()
		c.abandoned()
	} else {
		err = c.c.Close(ctx)
	}
	c.c = nil
	if err != nil {
		r.log.Warn("consumer leave reported an error", "consumer", c.id, "err", err)
	}
	r.event(kind, c.id, nil, "")
}
