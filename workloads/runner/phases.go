package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/results"
)

// waitReady sends a probe message to every partition of every topic until
// every subscription has received one from each partition, so measurement
// never starts while consumers are still joining their groups. Probes are
// re-sent every second because a consumer that starts at "latest" only sees
// probes sent after it was assigned.
func (r *run) waitReady(ctx context.Context) error {
	if len(r.subs) == 0 {
		return nil
	}
	deadline := time.Now().Add(r.r.readyTimeout)
	probe := make([]byte, HeaderSize)
	putHeader(probe, header{probe: true})
	var lastSend time.Time
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var settle time.Time // when every probe had arrived
	for {
		if r.allReady() {
			// Every partition is read, but a group may still be moving
			// partitions to members that joined late (a cooperative
			// rebalance revokes first and assigns in a second round):
			// measuring then would charge the handover to the system's
			// latency. Wait for the group to settle, within bounds.
			if settle.IsZero() {
				settle = time.Now()
			}
			if r.settled() {
				r.log.Info("consumers ready")
				return nil
			}
			if time.Since(settle) >= settleTimeout || time.Now().After(deadline) {
				msg := fmt.Sprintf("consumer group had not settled %v after every partition was read (not every member owns a partition); measuring anyway", settleTimeout)
				r.log.Warn(msg)
				r.warnings = append(r.warnings, msg)
				return nil
			}
		} else if time.Now().After(deadline) {
			return r.notReadyError()
		}
		if time.Since(lastSend) >= time.Second {
			// Bounded by the readiness deadline: a probe to an unreachable
			// partition must not hang the run past --ready-timeout.
			pctx, cancel := context.WithDeadline(ctx, deadline)
			err := r.sendProbes(pctx, probe)
			cancel()
			if err != nil && time.Now().After(deadline) {
				return r.notReadyError()
			}
			if err != nil {
				return err
			}
			lastSend = time.Now()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// settleTimeout bounds the wait for a group to settle once every
// partition has been read: a system whose members legitimately stay idle
// must not stall the run.
const settleTimeout = 15 * time.Second

// settled reports whether the group of every subscription whose system
// reports assignments has settled: all partitions owned, and as many
// members owning some as can (min(members, partitions)). Queue mode and
// systems that report no assignments are settled once the probes arrive.
func (r *run) settled() bool {
	parts := r.w.PartitionsPerTopic
	for _, s := range r.subs {
		if s.queue != nil || !s.assignments.Load() {
			continue
		}
		owned := make(map[int32]bool, parts)
		holders, members := 0, 0
		for _, c := range r.consumers {
			if c.sub != s {
				continue
			}
			members++
			c.mu.Lock()
			if len(c.assigned) > 0 {
				holders++
			}
			for p := range c.assigned {
				owned[p] = true
			}
			c.mu.Unlock()
		}
		if len(owned) < parts || holders < min(members, parts) {
			return false
		}
	}
	return true
}

func (r *run) allReady() bool {
	for _, s := range r.subs {
		if !s.ready() {
			return false
		}
	}
	return true
}

func (r *run) notReadyError() error {
	for _, s := range r.subs {
		if missing := s.missingProbes(); len(missing) > 0 {
			return fmt.Errorf("consumers not ready after %s: subscription %s has not read partitions %v", r.r.readyTimeout, s.name, missing)
		}
	}
	return fmt.Errorf("consumers not ready after %s", r.r.readyTimeout)
}

// sendProbes sends one probe per partition through the first producer of
// each topic and waits for the sends to complete.
func (r *run) sendProbes(ctx context.Context, probe []byte) error {
	for t := range r.topics {
		if _, err := r.probeTopic(ctx, t, probe); err != nil {
			return fmt.Errorf("send readiness probe: %w", err)
		}
	}
	return nil
}

// probeTopic sends probe to every partition of topic t through the topic's
// first producer, waits for the sends, and returns the offset each was
// acknowledged at.
func (r *run) probeTopic(ctx context.Context, t int, probe []byte) ([]int64, error) {
	pr := r.firstProducer(t)
	offsets := make([]int64, r.w.PartitionsPerTopic)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for p := range offsets {
		wg.Add(1)
		m := &adapters.Message{Topic: pr.topic, Partition: int32(p), Value: probe}
		pr.current().Send(ctx, m, func(res adapters.SendResult, err error) {
			mu.Lock()
			if err != nil {
				firstErr = err
			}
			offsets[p] = res.Offset
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	return offsets, firstErr
}

// load drives the producers through warm-up and measurement (or, for a
// backlog workload, backlog build and drain then measurement), then stops
// them and drains the consumers.
//
// start is the common start instant of a sharded run, zero otherwise.
func (r *run) load(ctx context.Context, backlog bool, start time.Time) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if start.IsZero() {
		start = time.Now().Add(10 * time.Millisecond)
	}
	r.watch = startWatcher(hiccupInterval)
	for i, pr := range r.producers {
		// Stagger producers by a fraction of their interval so that they
		// do not fire in lockstep.
		offset := time.Duration(0)
		if pr.rate > 0 {
			offset = time.Duration(float64(time.Second) / pr.rate * float64(i) / float64(len(r.producers)))
		}
		wg.Go(func() { pr.loop(ctx, start.Add(offset), stop) })
	}
	sampler := r.startSampler()
	err := r.phases(ctx, backlog, start)
	close(stop)
	wg.Wait()
	r.measureEnd.Store(r.now())
	// Samples from here on are the drain's, flushing included.
	sampler.endMeasure()
	r.gen = r.watch.stop()
	r.event("producers-stopped", "", nil, "")
	// One deadline covers flushing, draining and waiting for dead letters,
	// so --drain-timeout bounds everything after the producers stop.
	dctx, cancel := context.WithTimeout(ctx, r.r.drainTimeout)
	defer cancel()
	flushErr := r.flushProducers(dctx)
	var drainErr error
	if r.r.shard != nil {
		drainErr = r.drainSharded(dctx)
	} else {
		drainErr = r.drain(dctx)
	}
	r.awaitDeadLetters(dctx)
	r.finalRead(ctx)
	sampler.stop()
	if err != nil {
		return err
	}
	if flushErr != nil {
		return flushErr
	}
	return drainErr
}

func (r *run) phases(ctx context.Context, backlog bool, start time.Time) error {
	if backlog {
		if err := r.buildBacklog(ctx); err != nil {
			return err
		}
	} else if err := sleepCtx(ctx, time.Until(start.Add(r.w.WarmupDuration))); err != nil {
		return err
	}
	r.beginMeasure()
	faults, err := r.startFaults(ctx)
	if err != nil {
		return err
	}
	if ch := r.w.Churn; ch != nil && ch.Interval >= r.w.TestDuration {
		// The first membership change is due one interval into the
		// measurement: at or after its end none may happen at all.
		msg := fmt.Sprintf("churn every %v in a %v measurement: no consumer may leave before the end (lengthen --duration or shorten churn.interval)", ch.Interval, r.w.TestDuration)
		r.log.Warn(msg)
		r.warnings = append(r.warnings, msg)
	}
	churnDone := make(chan struct{})
	churnCtx, stopChurn := context.WithCancel(ctx)
	go func() {
		defer close(churnDone)
		if r.w.Churn != nil {
			r.churn(churnCtx)
		}
	}()
	err = sleepCtx(ctx, r.w.TestDuration)
	stopChurn()
	<-churnDone
	return errors.Join(err, faults.stop(ctx))
}

// beginMeasure ends warm-up: latency histograms restart and per-partition
// counts are based here.
func (r *run) beginMeasure() {
	for _, pr := range r.producers {
		pr.latency.Reset()
	}
	for _, c := range r.consumers {
		c.endToEnd.Reset()
		c.redeliveryDelay.Reset()
	}
	for _, t := range r.topics {
		for p := range t.acked {
			t.measured[p] = t.acked[p].Load()
		}
	}
	r.watch.reset()
	r.measureStart.Store(r.now())
	r.event("measure-start", "", nil, "")
	r.log.Info("measuring", "duration", r.w.TestDuration)
}

// buildBacklog follows OMB: producers run with no consumers until the
// backlog reaches consumerBacklogSizeGB, then consumers start and the run
// waits until the backlog is drained to (1 - backlogDrainRatio) of its size
// (at least 1000 messages remain allowed, as in OMB) before measuring. A
// ratio of 0 waits for nothing: the measured phase starts as soon as the
// consumers do, so the run ends on time whatever the consumers manage.
// Neither wait is open-ended: one that makes no progress (a backlog that
// stops growing, or stops shrinking) for the drain timeout fails the run.
// A sharded run's goals are on the shards' summed backlog (reachBacklog).
func (r *run) buildBacklog(ctx context.Context) error {
	target, size := r.w.BacklogBytes(), int64(r.w.MessageSize)
	r.setPhase("backlog-build")
	built, err := r.reachBacklog(ctx, PointBacklogBuilt, BacklogGoal{Phase: "build", Messages: (target + size - 1) / size, Stall: r.r.drainTimeout})
	if err != nil {
		return err
	}
	if r.w.PauseProducersDuringDrain {
		resume := make(chan struct{})
		r.paused.Store(&resume)
		defer func() { r.paused.Store(nil); close(resume) }()
		// Sends in flight complete first, so the backlog the consumers
		// start on is the whole of it and nothing is produced while they
		// drain.
		if err := r.flushProducers(ctx); err != nil {
			return err
		}
		if r.r.shard == nil {
			// The consumers start now; a shard keeps the coordinator's
			// instant, which all shards share.
			built = time.Now()
		}
	}
	bp := &results.BacklogPhase{Built: built, Drained: built, BuiltMessages: r.clientBacklog()}
	received := r.uniqueReceived()
	r.eventAt(built, "backlog-built", fmt.Sprintf("%d messages", bp.BuiltMessages))
	r.setPhase("backlog-drain")
	if err := r.startConsumers(ctx); err != nil {
		return err
	}
	if r.w.BacklogDrainRatio > 0 {
		floor := max(int64(1000), int64((1-r.w.BacklogDrainRatio)*float64(target/size)))
		bp.Drained, err = r.reachBacklog(ctx, PointBacklogDrained, BacklogGoal{Phase: "drain", Messages: floor, Stall: r.r.drainTimeout})
		if err != nil {
			return err
		}
	}
	bp.LeftMessages, bp.Consumed = r.clientBacklog(), r.uniqueReceived()-received
	r.backlog = bp
	r.eventAt(bp.Drained, "backlog-drained", fmt.Sprintf("%d messages left", bp.LeftMessages))
	r.setPhase("")
	return nil
}

// reachBacklog waits until the backlog meets goal and returns when it
// did. A shard waits at point for the coordinator, which checks the goal
// on the shards' summed backlog and releases them all at one instant.
func (r *run) reachBacklog(ctx context.Context, point string, goal BacklogGoal) (time.Time, error) {
	if r.r.shard != nil {
		return r.waitGoal(ctx, point, &goal)
	}
	err := r.waitBacklog(ctx, goal)
	return time.Now(), err
}

// waitBacklog polls the client backlog until it meets goal, failing when
// it has not improved on its best for goal.Stall.
func (r *run) waitBacklog(ctx context.Context, goal BacklogGoal) error {
	// A short tick: the backlog phase's instants time the build and the
	// drain, and a check costs one lock per subscription.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	best, since := r.clientBacklog(), time.Now()
	for b := best; !goal.Met(b); b = r.clientBacklog() {
		if goal.Better(b, best) {
			best, since = b, time.Now()
		}
		if time.Since(since) > goal.Stall {
			return goal.StallError(b)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// uniqueReceived is the distinct messages received, over all
// subscriptions.
func (r *run) uniqueReceived() int64 {
	var n int64
	for _, s := range r.subs {
		n += s.uniqueReceived()
	}
	return n
}

// clientBacklog is acknowledged messages times subscriptions minus unique
// messages received, over all topics.
func (r *run) clientBacklog() int64 {
	var acked int64
	for _, pr := range r.producers {
		acked += (pr.ackedN.Load() - pr.poisonAcked.Load()) * int64(r.w.SubscriptionsPerTopic)
	}
	return acked - r.uniqueReceived()
}

// flushProducers waits, within ctx, for every send to complete.
func (r *run) flushProducers(ctx context.Context) error {
	for _, pr := range r.producers {
		if err := pr.current().Flush(ctx); err != nil {
			return fmt.Errorf("flush producer %d: %w", pr.id, err)
		}
	}
	return nil
}

// drain waits until every subscription has received every acknowledged
// message, or ctx's deadline (the drain timeout) passes; what is missing
// then is lost, which the result reports, so a timeout is not an error.
func (r *run) drain(ctx context.Context) error {
	r.setPhase(phaseDrain)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for r.clientBacklog() > 0 && len(r.subs) > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				r.log.Warn("drain timed out; missing messages count as lost", "backlog", r.clientBacklog())
				return nil
			}
			return ctx.Err()
		}
	}
	return nil
}

// awaitDeadLetters, for a queue run whose system counts dead letters,
// waits (within the drain timeout) until every acknowledged poison message
// has reached the dead-letter destinations, then records the count. Poison
// messages take MaxDeliveries deliveries to get there, so they may trail
// the rest of the drain.
func (r *run) awaitDeadLetters(ctx context.Context) {
	counter, ok := r.sys.(adapters.DeadLetterCounter)
	q := r.w.Queue
	if q == nil || !ok || !q.DeadLetter || !r.caps.DeadLetter {
		return
	}
	var want int64
	for _, pr := range r.producers {
		want += pr.poisonAcked.Load() * int64(r.w.SubscriptionsPerTopic)
	}
	count := func() int64 {
		var n int64
		for _, s := range r.subs {
			c, err := counter.DeadLettered(ctx, r.topics[s.topicIdx].name, s.name)
			if err != nil {
				r.log.Warn("count dead letters", "subscription", s.name, "err", err)
				return -1
			}
			n += c
		}
		return n
	}
	if r.r.shard != nil {
		r.awaitDeadLettersSharded(ctx, want, count)
		r.deadLettered = count()
		return
	}
	n := count()
	for n >= 0 && n < want && ctx.Err() == nil {
		_ = sleepCtx(ctx, 100*time.Millisecond)
		n = count()
	}
	r.deadLettered = n
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
