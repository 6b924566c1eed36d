package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/adapters"
)

// Share-group (KIP-932) group configs the adapter sets through
// IncrementalAlterConfigs on the GROUP resource named after the
// subscription. The names are the same on Kafka 4.1+, refbroker and kfake.
const (
	// cfgShareReset is where a share-partition starts on the group's
	// first fetch: "earliest" or "latest" (the broker default).
	cfgShareReset = "share.auto.offset.reset"
	// cfgShareLock is the acquisition lock duration in milliseconds: how
	// long a consumer may hold a record before the broker redelivers it.
	cfgShareLock = "share.record.lock.duration.ms"
	// cfgShareLimit is the delivery-count limit after which a released or
	// expired record is archived.
	cfgShareLimit = "share.delivery.count.limit"
)

// Kafka API keys whose presence in ApiVersions means the broker serves
// share groups.
const (
	apiShareGroupHeartbeat = 76
	apiShareFetch          = 78
	apiShareAcknowledge    = 79
)

// shareConsumer is one share-group member with its own kgo client.
//
// Records are handled by a single goroutine (run) in poll order, so the
// Handler is never called concurrently for one consumer. Every record is
// acknowledged explicitly right after its handler returns (accept, release
// or reject), never left to kgo's accept-at-next-poll, so that a Crash
// between two records acknowledges nothing more.
type shareConsumer struct {
	*member
	cfg     adapters.ConsumerConfig
	mode    adapters.CommitMode
	maxPoll int
	// limit is the delivery limit the adapter enforces itself (0: none),
	// in case the broker ignores the group's share.delivery.count.limit:
	// a release of a record delivered limit times becomes a reject, and a
	// record arriving with a higher count is rejected unhandled.
	limit int
}

// detectShareGroups reports whether a broker advertises ShareGroupHeartbeat,
// ShareFetch and ShareAcknowledge in its ApiVersions response. Kafka 4.1+
// advertises them only when share groups are enabled.
func (k *Kafka) detectShareGroups(ctx context.Context) (bool, error) {
	vs, err := k.adm.ApiVersions(ctx)
	if err != nil {
		return false, fmt.Errorf("kafka ApiVersions (share-group detection): %w", err)
	}
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			continue
		}
		_, _, hb := v.KeyVersions(apiShareGroupHeartbeat)
		_, _, fetch := v.KeyVersions(apiShareFetch)
		_, _, ack := v.KeyVersions(apiShareAcknowledge)
		if hb && fetch && ack {
			return true, nil
		}
	}
	return false, nil
}

// newShareConsumer configures the share group cfg.Subscription and returns a
// member of it that has not started polling yet.
func (k *Kafka) newShareConsumer(ctx context.Context, cfg adapters.ConsumerConfig) (*shareConsumer, error) {
	if err := validateConsumer(cfg); err != nil {
		return nil, fmt.Errorf("kafka share consumer %q: %w", cfg.ID, err)
	}
	if cfg.MaxDeliveries < 0 {
		return nil, fmt.Errorf("kafka share consumer %q: %w: MaxDeliveries %d must be >= 0", cfg.ID, adapters.ErrInvalidConfig, cfg.MaxDeliveries)
	}
	if !k.shareGroups {
		return nil, fmt.Errorf("kafka share consumer %q: %w: Queue needs share groups (KIP-932), which the broker does not advertise (no ShareGroupHeartbeat in ApiVersions)",
			cfg.ID, adapters.ErrNotApplicable)
	}
	c := &shareConsumer{cfg: cfg, mode: cfg.Commit, maxPoll: cfg.Prefetch, limit: cfg.MaxDeliveries}
	if c.mode == "" {
		c.mode = adapters.CommitInterval
	}
	switch c.mode {
	case adapters.CommitAuto, adapters.CommitInterval, adapters.CommitSync:
	default:
		return nil, fmt.Errorf("kafka share consumer %q: %w: Commit %q; use auto, interval or sync", cfg.ID, adapters.ErrInvalidConfig, c.mode)
	}
	if c.maxPoll == 0 {
		c.maxPoll = DefaultPrefetch
	}
	if c.limit == 0 {
		c.limit = k.topicLimit(cfg.Topic)
	}
	if err := k.configureShareGroup(ctx, cfg.Subscription, cfg.Start, cfg.SessionTimeout, c.limit); err != nil {
		return nil, fmt.Errorf("kafka share consumer %q: %w", cfg.ID, err)
	}
	c.member = newMember("share consumer", cfg.ID)
	err := k.connect(c.member, cfg.ID, []kgo.Opt{
		kgo.ShareGroup(cfg.Subscription),
		kgo.ConsumeTopics(cfg.Topic),
		// At most Prefetch records acquired per fetch, and (strict mode's
		// default) one fetch per poll, so the consumer never holds more
		// than Prefetch locked records: the in-flight limit.
		kgo.ShareMaxRecords(int32(min(c.maxPoll, 1<<30))),
		kgo.ShareMaxRecordsStrict(),
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// configureShareGroup sets the group's start offset (required: a share
// group starts at "latest" otherwise) and, best effort, its lock duration
// and delivery limit. Brokers differ in which group configs and ranges
// they accept (Kafka bounds the lock duration by
// group.share.min.record.lock.duration.ms, 15s by default), so an
// INVALID_CONFIG answer for those two leaves the broker's setting in place;
// the delivery limit is enforced by the adapter as well.
func (k *Kafka) configureShareGroup(ctx context.Context, group string, start adapters.StartPosition, lock time.Duration, limit int) error {
	reset := "earliest"
	if start == adapters.StartLatest {
		reset = "latest"
	}
	if err := k.alterGroupConfig(ctx, group, cfgShareReset, reset); err != nil {
		return err
	}
	var optional [][2]string
	if lock > 0 {
		optional = append(optional, [2]string{cfgShareLock, strconv.FormatInt(max(lock.Milliseconds(), 1), 10)})
	}
	if limit > 0 {
		optional = append(optional, [2]string{cfgShareLimit, strconv.Itoa(limit)})
	}
	for _, nv := range optional {
		err := k.alterGroupConfig(ctx, group, nv[0], nv[1])
		if err != nil && !errors.Is(err, kerr.InvalidConfig) && !errors.Is(err, kerr.PolicyViolation) {
			return err
		}
	}
	return nil
}

// alterGroupConfig sets one config of a GROUP resource.
func (k *Kafka) alterGroupConfig(ctx context.Context, group, name, value string) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value, c.Op = name, kmsg.StringPtr(value), kmsg.IncrementalAlterConfigOpSet
	r.Configs = append(r.Configs, c)
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, k.admin)
	if err != nil {
		return fmt.Errorf("set group config %s=%s of %q: %w", name, value, group, err)
	}
	if len(resp.Resources) != 1 {
		return fmt.Errorf("set group config %s=%s of %q: %d resources in the response, want 1", name, value, group, len(resp.Resources))
	}
	rr := resp.Resources[0]
	if err := kerr.ErrorForCode(rr.ErrorCode); err != nil {
		msg := ""
		if rr.ErrorMessage != nil {
			msg = ": " + *rr.ErrorMessage
		}
		return fmt.Errorf("set group config %s=%s of %q: %w%s", name, value, group, err, msg)
	}
	return nil
}

// ackFor maps a disposition to the share-group acknowledgement.
func ackFor(d adapters.Disposition) kgo.AckStatus {
	switch d {
	case adapters.Release:
		return kgo.AckRelease
	case adapters.Reject:
		return kgo.AckReject
	}
	return kgo.AckAccept
}

// run is the poll-handle-acknowledge loop. Acknowledgements are queued by
// rec.Ack and sent by kgo piggybacked on the next ShareFetch; a batch with
// a release or reject (applied at once, per the Disposition contract), and
// every batch in CommitSync mode, is flushed before the next poll.
func (c *shareConsumer) run() {
	defer close(c.done)
	var d adapters.Delivery
	for {
		fs := c.cl.PollRecords(c.pollCtx, c.maxPoll)
		if c.crashed.Load() {
			return
		}
		recs := fs.Records()
		flush := c.mode == adapters.CommitSync && len(recs) > 0
		for _, r := range recs {
			status, handled := c.handle(r, &d)
			if c.crashed.Load() {
				return // a dead process acknowledges nothing
			}
			r.Ack(status)
			if status != kgo.AckAccept || !handled {
				flush = true
			}
		}
		if flush {
			// A failed flush is not fatal: unacknowledged records come
			// back when their locks expire, which at-least-once allows.
			_ = c.cl.FlushAcks(c.progressCtx)
		}
		if !c.keepPolling(fs, len(recs)) {
			return
		}
	}
}

// handle passes r to the Handler unless it is over the delivery limit, and
// returns the acknowledgement to send and whether the handler ran.
func (c *shareConsumer) handle(r *kgo.Record, d *adapters.Delivery) (kgo.AckStatus, bool) {
	count := int(r.DeliveryCount())
	if c.limit > 0 && count > c.limit {
		// The broker's limit is higher than ours: this delivery should
		// not have happened, so archive the record without handling it.
		return kgo.AckReject, false
	}
	*d = adapters.Delivery{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value,
		Redelivered: count > 1, DeliveryCount: count,
	}
	c.cfg.Handler(d)
	status := ackFor(d.Disposition)
	if status == kgo.AckRelease && c.limit > 0 && count >= c.limit {
		status = kgo.AckReject // delivered limit times without acceptance
	}
	return status, true
}

// Close stops polling, waits for the handler loop to finish the batch in
// hand, flushes every acknowledgement and leaves the share group, which
// releases records fetched but not yet handled to the other members. If
// ctx ends first the client is torn down without acknowledging and ctx's
// error returned. Close after Close or Crash is a no-op.
//
// Crash is member's: the broker releases a crashed member's acquired
// records when their connection closes (Kafka, refbroker and kfake do),
// or at the latest when their acquisition locks expire.
func (c *shareConsumer) Close(ctx context.Context) error {
	if ok, err := c.beginClose(ctx); !ok {
		return err
	}
	var err error
	if ferr := c.cl.FlushAcks(ctx); ferr != nil {
		err = fmt.Errorf("close kafka share consumer %q: flush acknowledgements: %w", c.cfg.ID, ferr)
	}
	return c.finishClose(ctx, err, "share group")
}
