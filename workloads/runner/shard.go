package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
)

// Rendezvous points of a sharded run, in the order every shard reaches
// them. A [Barrier] returns from Wait at a point only when every shard has
// reached it.
const (
	// PointCreated: shard 0 has created the topics; the others wait here
	// before creating consumers on them.
	PointCreated = "created"
	// PointReady: consumers are started; the barrier returns when every
	// (subscription, partition) has delivered a readiness probe to some
	// shard and, where there are no more consumers than partitions, every
	// shard's consumers have received one (they are assigned), with the
	// instant at which every shard starts its producers.
	PointReady = "ready"
	// PointProduce replaces PointReady in a backlog workload, whose
	// consumers start only once the backlog is built: producers are
	// created; the barrier returns the instant at which every shard starts
	// them.
	PointProduce = "produce"
	// PointBacklogBuilt and PointBacklogDrained: a backlog workload's
	// shards wait there, with a [BacklogGoal], until the shards' summed
	// backlog has reached the backlog size (then every shard starts its
	// consumers) and has fallen to the drain floor (then measuring
	// starts). The barrier returns the instant the goal was met: both
	// instants are common to all shards, as the drain figures need.
	PointBacklogBuilt   = "backlog-built"
	PointBacklogDrained = "backlog-drained"
	// PointDeadLettered: a queue workload with dead letters, after
	// PointDrained. The dead-letter count is the system's, over every
	// shard's poison messages: the shards wait, with a "drain" goal of 0,
	// until it covers their summed poison messages (shard 0's Backlog is
	// its poison minus the count, the others' their poison), or the drain
	// timeout ends the wait; then each reads the count.
	PointDeadLettered = "dead-lettered"
	// PointDrained: producers stopped and flushed; the barrier returns
	// when the shards' backlogs sum to zero (every acknowledged message
	// received) or the drain timeout ends the wait.
	PointDrained = "drained"
	// PointClosed: clients closed; shard 0 deletes the topics after it.
	PointClosed = "closed"
)

// ShardStatus is one shard's live view, read by the barrier while the
// shard waits at a point.
type ShardStatus struct {
	// Backlog is acknowledged messages of this shard's producers times
	// subscriptions, minus distinct messages this shard's consumers
	// received (of any shard). It may be negative; the shards' backlogs sum
	// to the run's backlog as long as no message was received by two
	// shards.
	Backlog int64 `json:"backlog"`
	// Probes maps each subscription to the partitions whose readiness
	// probe this shard's consumers have received.
	Probes map[string][]bool `json:"probes,omitempty"`
	// Consumers is the number of consumers this shard runs in each
	// subscription.
	Consumers int `json:"consumers"`
	// Goal is what the shards' summed Backlog must meet at
	// PointBacklogBuilt, PointBacklogDrained and PointDeadLettered; nil
	// elsewhere.
	Goal *BacklogGoal `json:"goal,omitempty"`
}

// BacklogGoal is a condition on a backlog workload's client-side backlog
// (messages, summed over subscriptions): one machine checks it on its own
// backlog, the coordinator of a distributed run on the shards' sum.
type BacklogGoal struct {
	// Phase is "build" (met when the backlog is at least Messages) or
	// "drain" (met when it is at most Messages).
	Phase    string `json:"phase"`
	Messages int64  `json:"messages"`
	// Stall is how long the backlog may go without improving on its best
	// (growing while built, shrinking while drained) before the run fails
	// (--drain-timeout): a system that stops taking messages, or consumers
	// that stop reading, cannot hold the run forever.
	Stall time.Duration `json:"stall"`
}

// Met reports whether backlog b meets the goal.
func (g BacklogGoal) Met(b int64) bool {
	if g.Phase == "build" {
		return b >= g.Messages
	}
	return b <= g.Messages
}

// Better reports whether backlog b improves on best.
func (g BacklogGoal) Better(b, best int64) bool {
	if g.Phase == "build" {
		return b > best
	}
	return b < best
}

// StallError is the error of a backlog that made no progress for
// g.Stall, b messages in it.
func (g BacklogGoal) StallError(b int64) error {
	return fmt.Errorf("backlog %s made no progress for %s (--drain-timeout): %d messages in the backlog", g.Phase, g.Stall, b)
}

// Barrier synchronises the shards of a distributed run (package
// distributed). Wait blocks at point until every shard has reached it, a
// shard failed (an error naming it), or ctx ends; at PointReady it returns
// the common start instant. status is the shard's live view while it waits.
type Barrier interface {
	Wait(ctx context.Context, point string, status func() ShardStatus) (time.Time, error)
}

// ShardConfig makes a Runner run one shard of each workload.
type ShardConfig struct {
	Segment workloads.Segment
	// RunID names the run's topics; every shard of the run must use the
	// same one.
	RunID   string
	Barrier Barrier
}

// Shard makes the runner run segment c.Segment of every workload
// (workloads.Split) in step with the other shards through c.Barrier.
func Shard(c ShardConfig) Option {
	return func(r *Runner) error {
		if err := c.Segment.Validate(); err != nil {
			return err
		}
		if c.RunID == "" || c.Barrier == nil {
			return errors.New("a sharded run needs a run id and a barrier")
		}
		r.shard = &c
		return nil
	}
}

// wait is Barrier.Wait for a sharded run and a no-op otherwise.
func (r *run) wait(ctx context.Context, point string) (time.Time, error) {
	return r.waitGoal(ctx, point, nil)
}

// waitGoal is wait with the shard's status carrying goal.
func (r *run) waitGoal(ctx context.Context, point string, goal *BacklogGoal) (time.Time, error) {
	if r.r.shard == nil {
		return time.Time{}, nil
	}
	r.log.Info("waiting for the other shards", "point", point)
	status := r.shardStatus
	if goal != nil {
		status = func() ShardStatus {
			st := r.shardStatus()
			st.Goal = goal
			return st
		}
	}
	t, err := r.r.shard.Barrier.Wait(ctx, point, status)
	if err != nil {
		return t, fmt.Errorf("shard %s at %s: %w", r.r.shard.Segment, point, err)
	}
	return t, nil
}

func (r *run) shardStatus() ShardStatus {
	st := ShardStatus{Backlog: r.clientBacklog(), Probes: map[string][]bool{}, Consumers: r.plan.ConsumersHi - r.plan.ConsumersLo}
	for _, s := range r.subs {
		s.mu.Lock()
		st.Probes[s.name] = append([]bool(nil), s.probes...)
		s.mu.Unlock()
	}
	return st
}

// waitReadySharded probes every second, through the first of this
// shard's producers of each topic, until the barrier finds every
// subscription's partitions covered by the shards together, and returns
// the common start instant.
func (r *run) waitReadySharded(ctx context.Context) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, r.r.readyTimeout)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		probe := make([]byte, HeaderSize)
		putHeader(probe, header{probe: true})
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			for t := range r.topics {
				if r.firstProducer(t) != nil {
					if _, err := r.probeTopic(ctx, t, probe); err != nil && ctx.Err() == nil {
						r.log.Warn("send readiness probe", "err", err)
					}
				}
			}
			select {
			case <-tick.C:
			case <-done:
				return
			}
		}
	}()
	start, err := r.wait(ctx, PointReady)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		return start, fmt.Errorf("consumers not ready after %s: %w", r.r.readyTimeout, err)
	}
	return start, err
}

// firstProducer is this run's first producer of topic t, nil when the
// shard runs none.
func (r *run) firstProducer(t int) *producer {
	for _, pr := range r.producers {
		if pr.topicIdx == t {
			return pr
		}
	}
	return nil
}

// CountRebalances counts bursts of assignment changes in events (sorted by
// time), as a run does; merging recounts them over the shards' events.
func CountRebalances(events []results.Event) int64 { return countRebalances(events) }

// shardResult records the shard and, so that merging can count losses and
// duplicates across shards exactly, every producer's acknowledged sequence
// numbers and every subscription's received ones, as ranges.
func (r *run) shardResult(res *results.Result) {
	c := r.r.shard
	if c == nil {
		return
	}
	sh := &results.Shard{Index: c.Segment.Index, Count: c.Segment.Count, RunID: c.RunID,
		Acked: map[string]results.SeqRanges{}, Received: map[string]results.SubscriptionSeqs{}, Epoch: r.epoch}
	for _, pr := range r.producers {
		pr.mu.Lock()
		sh.Acked[fmt.Sprint(pr.id)] = pr.acked.ranges()
		pr.mu.Unlock()
		if n := pr.poisonAcked.Load(); n > 0 {
			if sh.Poison == nil {
				sh.Poison = map[string]int64{}
			}
			sh.Poison[fmt.Sprint(pr.id)] = n
		}
	}
	for _, s := range r.subs {
		m := map[string]results.SeqRanges{}
		s.mu.Lock()
		for id := range s.seen {
			if rs := s.seen[id].ranges(); len(rs) > 0 {
				m[fmt.Sprint(id)] = rs
			}
		}
		s.mu.Unlock()
		sh.Received[s.name] = results.SubscriptionSeqs{Topic: s.topicIdx, Producers: m}
	}
	res.Shard = sh
}

// drainSharded waits, within ctx (the drain timeout), until the shards
// together have received every acknowledged message. A timeout is not an
// error: what is missing then counts as lost when the shards are merged.
func (r *run) drainSharded(ctx context.Context) error {
	r.setPhase(phaseDrain)
	_, err := r.wait(ctx, PointDrained)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.log.Warn("drain timed out; missing messages count as lost when the shards are merged", "backlog", r.clientBacklog())
		return nil
	}
	return err
}

// shardStatus is a shard's status: only its own error or interruption
// decides it. Its figures are part of a run (a shard without producers
// sends nothing, one whose consumers read other shards' messages looks
// behind or ahead), so the rules on figures judge the merged whole
// (distributed.Merge).
func shardStatus(err error, interrupted bool) (results.Status, []results.Reason) {
	switch {
	case interrupted:
		return results.StatusInterrupted, []results.Reason{{Code: results.ReasonInterrupted, Message: "the run was interrupted; its figures are partial"}}
	case err != nil:
		return results.StatusFailed, []results.Reason{{Code: results.ReasonRunError, Message: err.Error()}}
	}
	return results.StatusOK, nil
}

// awaitDeadLettersSharded waits at PointDeadLettered until the system's
// dead-letter count covers every shard's poison messages (want is this
// shard's), or ctx (the drain timeout) ends: a timeout is not an error, as
// on one machine.
func (r *run) awaitDeadLettersSharded(ctx context.Context, want int64, count func() int64) {
	goal := &BacklogGoal{Phase: "drain", Messages: 0, Stall: r.r.drainTimeout}
	status := func() ShardStatus {
		st := ShardStatus{Backlog: want, Goal: goal}
		if r.plan.Segment.Index == 0 {
			n := count()
			if n < 0 {
				// Uncountable: stop waiting, as one machine does; the
				// result says the count is unknown.
				n = want + 1<<40
			}
			st.Backlog -= n
		}
		return st
	}
	r.log.Info("waiting for the other shards", "point", PointDeadLettered)
	if _, err := r.r.shard.Barrier.Wait(ctx, PointDeadLettered, status); err != nil && ctx.Err() == nil {
		r.log.Warn("wait for dead letters", "err", err)
	}
}
