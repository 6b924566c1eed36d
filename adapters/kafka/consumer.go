package kafka

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/adapters"
)

// DefaultPrefetch is the most records one poll hands to the handler loop
// when ConsumerConfig.Prefetch is 0 (Kafka's max.poll.records default).
const DefaultPrefetch = 500

// consumer is one classic consumer-group member with its own kgo client.
//
// Records are handled by a single goroutine (run) in poll order, so the
// Handler is never called concurrently for one consumer. BlockRebalanceOnPoll
// makes rebalances wait until a polled batch is fully handled, marked or
// committed and AllowRebalance is called; therefore when OnPartitionsRevoked
// runs every polled record has been handled, and committing there loses no
// handled record's offset (at-least-once across rebalances).
type consumer struct {
	*member
	cfg     adapters.ConsumerConfig
	mode    adapters.CommitMode
	maxPoll int
}

// NewConsumer joins cfg.Subscription as a consumer of cfg.Topic and starts
// handling records: as a classic consumer-group member, or with cfg.Queue as
// a share-group (KIP-932) member, after setting the share group's
// share.auto.offset.reset, lock duration and delivery limit. See the
// package doc and docs/adapters/kafka.md for how each ConsumerConfig field
// maps to the Kafka client.
func (k *Kafka) NewConsumer(ctx context.Context, cfg adapters.ConsumerConfig) (adapters.Consumer, error) {
	if err := k.checkOpen(); err != nil {
		return nil, err
	}
	if cfg.Queue {
		sc, err := k.newShareConsumer(ctx, cfg)
		if err != nil {
			return nil, err
		}
		k.trackGroup(cfg.Topic, cfg.Subscription, true)
		go sc.run()
		return sc, nil
	}
	c, err := k.newConsumer(cfg)
	if err != nil {
		return nil, err
	}
	k.trackGroup(cfg.Topic, cfg.Subscription, false)
	go c.run()
	return c, nil
}

func validateConsumer(cfg adapters.ConsumerConfig) error {
	switch {
	case cfg.Topic == "":
		return fmt.Errorf("%w: ConsumerConfig.Topic is empty", adapters.ErrInvalidConfig)
	case cfg.Subscription == "":
		return fmt.Errorf("%w: ConsumerConfig.Subscription (the group id) is empty", adapters.ErrInvalidConfig)
	case cfg.Handler == nil:
		return fmt.Errorf("%w: ConsumerConfig.Handler is nil", adapters.ErrInvalidConfig)
	case cfg.SessionTimeout < 0, cfg.CommitInterval < 0, cfg.Prefetch < 0:
		return fmt.Errorf("%w: SessionTimeout %v, CommitInterval %v and Prefetch %d must be >= 0",
			adapters.ErrInvalidConfig, cfg.SessionTimeout, cfg.CommitInterval, cfg.Prefetch)
	}
	return nil
}

// consumerFor is an unconnected consumer for cfg with the adapter's
// defaults applied (what NewConsumer runs and ClientSettings reports).
func consumerFor(cfg adapters.ConsumerConfig) *consumer {
	c := &consumer{member: newMember("consumer", cfg.ID), cfg: cfg, mode: cfg.Commit, maxPoll: cfg.Prefetch}
	c.blockRebalance = true
	if c.mode == "" {
		c.mode = adapters.CommitInterval
	}
	if c.maxPoll == 0 {
		c.maxPoll = DefaultPrefetch
	}
	return c
}

func (k *Kafka) newConsumer(cfg adapters.ConsumerConfig) (*consumer, error) {
	if err := validateConsumer(cfg); err != nil {
		return nil, fmt.Errorf("kafka consumer %q: %w", cfg.ID, err)
	}
	c := consumerFor(cfg)
	groupOpts, err := c.groupOpts()
	if err != nil {
		return nil, fmt.Errorf("kafka consumer %q: %w", cfg.ID, err)
	}
	if err := k.connect(c.member, cfg.ID, groupOpts); err != nil {
		return nil, err
	}
	return c, nil
}

// groupOpts maps the consumer settings to kgo group options.
func (c *consumer) groupOpts() ([]kgo.Opt, error) {
	cfg := c.cfg
	balancer, err := balancerFor(cfg.Assignor)
	if err != nil {
		return nil, err
	}
	start := kgo.NewOffset().AtStart()
	if cfg.Start == adapters.StartLatest {
		start = kgo.NewOffset().AtEnd()
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.Subscription),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.Balancers(balancer),
		kgo.ConsumeResetOffset(start),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
	}
	if cfg.SessionTimeout > 0 {
		// Kafka needs heartbeats well within the session; kgo's default
		// 3s interval is too slow for the 6s minimum session.
		opts = append(opts, kgo.SessionTimeout(cfg.SessionTimeout),
			kgo.HeartbeatInterval(min(3*time.Second, cfg.SessionTimeout/3)))
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	if cfg.OnCommitted != nil && c.mode != adapters.CommitSync {
		opts = append(opts, kgo.AutoCommitCallback(c.autoCommitted))
	}
	switch c.mode {
	case adapters.CommitAuto:
		if cfg.CommitInterval > 0 {
			opts = append(opts, kgo.AutoCommitInterval(cfg.CommitInterval))
		}
	case adapters.CommitInterval:
		opts = append(opts, kgo.AutoCommitMarks(), kgo.AutoCommitInterval(commitInterval(cfg)))
	case adapters.CommitSync:
		opts = append(opts, kgo.DisableAutoCommit())
	default:
		return nil, fmt.Errorf("%w: Commit %q; use auto, interval or sync", adapters.ErrInvalidConfig, c.mode)
	}
	return opts, nil
}

// balancerFor maps an adapters.Assignor to a kgo balancer.
func balancerFor(a adapters.Assignor) (kgo.GroupBalancer, error) {
	switch a {
	case "", adapters.AssignCooperativeSticky:
		return kgo.CooperativeStickyBalancer(), nil
	case adapters.AssignRange:
		return kgo.RangeBalancer(), nil
	case adapters.AssignRoundRobin:
		return kgo.RoundRobinBalancer(), nil
	case adapters.AssignSticky:
		return kgo.StickyBalancer(), nil
	default:
		return nil, fmt.Errorf("%w: Assignor %q; use cooperative-sticky, range, roundrobin or sticky", adapters.ErrInvalidConfig, a)
	}
}

// run is the poll-handle-commit loop. The Delivery passed to the Handler is
// one struct reused for every record; its Key and Value slices are kgo's
// and are not reused by the adapter, but per the Handler contract must not
// be retained.
func (c *consumer) run() {
	defer close(c.done)
	// PollRecords counts itself as a poller, blocking rebalances, even when
	// it returns only a context error; so every exit must allow rebalancing
	// again, or the leave in Close or Crash would wait for it forever.
	defer c.cl.AllowRebalance()
	var d adapters.Delivery
	// marks holds, per batch, the last record of each partition run: one
	// MarkCommitRecords call after the batch marks them all. Marking each
	// record as it is handled cost kgo a lock, a sort and two allocations
	// per record. Revokes and Close commit only after the batch (the
	// rebalance is blocked while it is handled), so they commit the same
	// offsets; an interval commit that fires mid-batch commits the
	// previous batch's marks, so a crash may redeliver at most one batch
	// more, which at-least-once allows.
	var marks []*kgo.Record
	for {
		fs := c.cl.PollRecords(c.pollCtx, c.maxPoll)
		if c.crashed.Load() {
			return
		}
		// A graceful stop still handles what this poll returned, so the
		// final commit in Close covers every polled record.
		recs := fs.Records()
		marks = marks[:0]
		for i, r := range recs {
			d = adapters.Delivery{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value}
			c.cfg.Handler(&d)
			if c.crashed.Load() {
				return // a dead process acknowledges nothing
			}
			if last := i == len(recs)-1; last || recs[i+1].Partition != r.Partition || recs[i+1].Topic != r.Topic {
				marks = append(marks, r)
			}
		}
		if c.mode == adapters.CommitInterval && len(marks) > 0 {
			c.cl.MarkCommitRecords(marks...)
		}
		if c.mode == adapters.CommitSync && len(recs) > 0 {
			// A failed commit (for example during a rebalance) is not fatal:
			// the records are delivered again, which at-least-once allows.
			if err := c.cl.CommitRecords(c.progressCtx, recs...); err == nil {
				c.committedRecords(recs)
			}
		}
		c.cl.AllowRebalance()
		if !c.keepPolling(fs, len(recs)) {
			return
		}
	}
}

// partitionsOf returns the sorted partitions of this consumer's topic in m.
func (c *consumer) partitionsOf(m map[string][]int32) []int32 {
	ps := slices.Clone(m[c.cfg.Topic])
	slices.Sort(ps)
	return ps
}

func (c *consumer) onAssigned(_ context.Context, cl *kgo.Client, m map[string][]int32) {
	if ps := c.partitionsOf(m); len(ps) > 0 && !c.crashed.Load() && c.cfg.OnAssigned != nil {
		if c.cfg.OnGeneration != nil {
			if _, gen := cl.GroupMetadata(); gen > 0 {
				c.cfg.OnGeneration(gen)
			}
		}
		c.cfg.OnAssigned(ps)
	}
}

// onRevoked commits everything handled before the partitions go to another
// member. It replaces kgo's default revoke, which would commit regardless
// of Crash.
func (c *consumer) onRevoked(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	if c.crashed.Load() {
		return
	}
	// Errors are not fatal: an uncommitted record is redelivered.
	_ = c.commitHandled(ctx, cl)
	if ps := c.partitionsOf(m); len(ps) > 0 && c.cfg.OnRevoked != nil {
		c.cfg.OnRevoked(ps)
	}
}

// onLost reports partitions lost to a fatal group error; committing would
// fail (the generation is gone), so it does not try.
func (c *consumer) onLost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	if ps := c.partitionsOf(m); len(ps) > 0 && !c.crashed.Load() && c.cfg.OnRevoked != nil {
		c.cfg.OnRevoked(ps)
	}
}

// Close stops polling, waits for the handler loop to finish the batch in
// hand, commits everything handled, and leaves the group (dynamic members;
// static members keep their slot until the session times out, as Kafka
// intends). If ctx ends first the client is torn down without committing
// and ctx's error returned. Close after Close or Crash is a no-op. Crash
// is member's.
func (c *consumer) Close(ctx context.Context) error {
	if ok, err := c.beginClose(ctx); !ok {
		return err
	}
	err := c.commitHandled(ctx, c.cl)
	if err != nil {
		err = fmt.Errorf("close kafka consumer %q: final commit: %w", c.cfg.ID, err)
	}
	return c.finishClose(ctx, err, "group")
}

// commitHandled commits every handled record (marked ones in interval
// mode, everything polled otherwise) and reports the commit to
// OnCommitted when the broker accepted it.
func (c *consumer) commitHandled(ctx context.Context, cl *kgo.Client) error {
	var pending map[string]map[int32]kgo.EpochOffset
	if c.mode == adapters.CommitInterval {
		pending = cl.MarkedOffsets()
		if err := cl.CommitMarkedOffsets(ctx); err != nil {
			return err
		}
	} else {
		pending = cl.UncommittedOffsets()
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return err
		}
	}
	if c.cfg.OnCommitted != nil && len(pending[c.cfg.Topic]) > 0 {
		out := make(map[int32]int64, len(pending[c.cfg.Topic]))
		for p, eo := range pending[c.cfg.Topic] {
			out[p] = eo.Offset
		}
		c.cfg.OnCommitted(out)
	}
	return nil
}

// committedRecords reports a synchronous commit of recs: per partition,
// the offset after the last record.
func (c *consumer) committedRecords(recs []*kgo.Record) {
	if c.cfg.OnCommitted == nil {
		return
	}
	out := map[int32]int64{}
	for _, r := range recs {
		if r.Topic == c.cfg.Topic {
			out[r.Partition] = max(out[r.Partition], r.Offset+1)
		}
	}
	if len(out) > 0 {
		c.cfg.OnCommitted(out)
	}
}

// autoCommitted is kgo's callback after an automatic commit: it reports
// the partitions the broker accepted. Errors are not fatal (kgo's default
// callback only logs them): an uncommitted record is redelivered.
func (c *consumer) autoCommitted(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err != nil || c.crashed.Load() {
		return
	}
	asked := map[int32]int64{}
	for _, t := range req.Topics {
		if t.Topic == c.cfg.Topic {
			for _, p := range t.Partitions {
				asked[p.Partition] = p.Offset
			}
		}
	}
	out := map[int32]int64{}
	for _, t := range resp.Topics {
		if t.Topic != c.cfg.Topic {
			continue
		}
		for _, p := range t.Partitions {
			if o, ok := asked[p.Partition]; ok && p.ErrorCode == 0 {
				out[p.Partition] = o
			}
		}
	}
	if len(out) > 0 {
		c.cfg.OnCommitted(out)
	}
}

// commitInterval is the commit period of CommitInterval mode: the
// workload's, or 1s (brokerbench's cadence for every system).
func commitInterval(cfg adapters.ConsumerConfig) time.Duration {
	if cfg.CommitInterval == 0 {
		return time.Second
	}
	return cfg.CommitInterval
}
