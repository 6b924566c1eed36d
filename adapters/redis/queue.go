package redis

// Queue semantics on top of a consumer group's pending entries list (PEL).
//
// Redis Streams have XACK and a per-entry delivery count but no nack, no
// reject and no delivery limit; the adapter builds them as follows.
//
//   - Release leaves the entry pending in this consumer's PEL. After the
//     batch in hand, the read loop XACKs everything accepted (so the PEL
//     holds only released entries) and re-reads its own PEL with
//     XREADGROUP ... 0, which redelivers them at once and makes Redis
//     increment their delivery counts. Reading the own PEL, rather than
//     XCLAIMing the IDs with min-idle 0, never steals an entry that another
//     consumer claimed in the meantime.
//   - Reject, and a release or claim that reaches the delivery limit, run
//     MULTI; XADD <dead-letter stream> ...; XACK <stream> <group> <id>; EXEC.
//     Both keys carry the partition's hash tag (keys.go), so this works on
//     Redis Cluster.
//     The XADD comes first and the two are atomic: a crash before EXEC
//     applies neither, the entry stays pending and is redelivered later, so
//     an entry is never acknowledged without its dead-letter copy (it may be
//     copied twice if the EXEC reply is lost). Without a dead-letter stream
//     the entry is only XACKed (dropped).
//   - Delivery counts are 1 for an entry first read with ">", and otherwise
//     the PEL's delivery counter read with XPENDING (extended form) right
//     after the redelivery that incremented it.

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
)

// Dead-letter entry fields, besides fieldKey and fieldValue copied from the
// original entry.
const (
	fieldDLQPartition  = "partition"  // partition the entry came from
	fieldDLQID         = "id"         // its stream ID there
	fieldDLQDeliveries = "deliveries" // its delivery count when dead-lettered
)

// DeadLettered returns XLEN of the subscription's dead-letter stream (the
// sum over its per-partition streams on a cluster, see keys.go): the
// entries rejected or dead-lettered at the delivery limit. It is 0 for a
// topic without DeadLetter. A missing topic gives an error wrapping
// adapters.ErrTopicNotFound.
func (r *Redis) DeadLettered(ctx context.Context, topic, subscription string) (int64, error) {
	m, err := loadMeta(ctx, r.admin, topic)
	if err != nil {
		return 0, fmt.Errorf("dead-lettered: %w", err)
	}
	var total int64
	for _, k := range r.layout.dlqs(topic, subscription, m.partitions) {
		n, err := r.admin.XLen(ctx, k).Result()
		if err != nil {
			return 0, fmt.Errorf("dead-lettered of %q subscription %q: XLEN %s: %w", topic, subscription, k, err)
		}
		total += n
	}
	return total, nil
}

// settle applies the Handler's disposition of entry m of partition p,
// delivered for the n-th time as d; d is nil for an entry acknowledged
// without delivery (its fields are gone).
func (c *consumer) settle(p int, m goredis.XMessage, n int, d *adapters.Delivery) {
	disp := adapters.Accept
	if d != nil {
		disp = d.Disposition
	}
	switch {
	case c.noAck:
		// NOACK entries were never pending: nothing to release or
		// acknowledge, but a rejected entry can still be copied.
		if disp == adapters.Accept && d != nil && c.cfg.OnAcked != nil {
			c.one = append(c.one[:0], d.Ref)
			c.cfg.OnAcked(int32(p), c.one)
		}
		if disp == adapters.Reject && c.dlq != nil {
			if err := c.client.XAdd(c.ctx, c.dlqArgs(p, m, n)).Err(); err != nil {
				c.setErr(fmt.Errorf("redis consumer %q: dead-letter %s: %w", c.name, m.ID, err))
			}
		}
	case disp == adapters.Release && (c.limit <= 0 || n < c.limit):
		c.released = true
	case disp == adapters.Release, disp == adapters.Reject:
		c.deadLetter(p, m, n)
	default:
		c.acks[p] = append(c.acks[p], m.ID)
		if d != nil && c.cfg.OnAcked != nil {
			c.refs[p] = append(c.refs[p], d.Ref)
		}
		c.nacks++
	}
}

// deadLetter copies entry m to the dead-letter stream (when the topic has
// one) and acknowledges it, atomically (see the file comment). On failure the
// entry stays pending and is redelivered later: by this consumer's next
// redelivery of released entries or restart, or by another member's claim
// after the session timeout.
func (c *consumer) deadLetter(p int, m goredis.XMessage, n int) {
	if c.crashed.Load() {
		return
	}
	var err error
	if c.dlq == nil {
		err = c.client.XAck(c.ctx, c.keys[p], c.cfg.Subscription, m.ID).Err()
	} else {
		_, err = c.client.TxPipelined(c.ctx, func(pipe goredis.Pipeliner) error {
			pipe.XAdd(c.ctx, c.dlqArgs(p, m, n))
			pipe.XAck(c.ctx, c.keys[p], c.cfg.Subscription, m.ID)
			return nil
		})
	}
	if err != nil {
		c.setErr(fmt.Errorf("redis consumer %q: dead-letter %s of partition %d: %w", c.name, m.ID, p, err))
	}
}

func (c *consumer) dlqArgs(p int, m goredis.XMessage, n int) *goredis.XAddArgs {
	vals := make([]any, 0, 10)
	if k, ok := m.Values[fieldKey]; ok {
		vals = append(vals, fieldKey, k)
	}
	vals = append(vals, fieldValue, m.Values[fieldValue],
		fieldDLQPartition, p, fieldDLQID, m.ID, fieldDLQDeliveries, n)
	return &goredis.XAddArgs{Stream: c.dlq[p], Values: vals}
}

// redeliverReleased redelivers the entries released since the last call (see
// the file comment). The acks of accepted entries are flushed first so that
// the own PEL holds only released entries; if that fails, the redelivery
// waits for the next turn rather than redeliver accepted entries.
func (c *consumer) redeliverReleased() {
	if !c.released || c.crashed.Load() {
		return
	}
	if err := c.flushAcks(c.ctx); err != nil {
		c.setErr(err)
		return
	}
	c.released = false
	streams, err := c.read(c.fromStart()...)
	if err != nil {
		c.released = true // retried on the next turn
		c.setErr(fmt.Errorf("redis consumer %q: re-read released entries: %w", c.name, err))
		return
	}
	for _, s := range streams {
		if int64(len(s.Messages)) >= c.count {
			c.released = true // more may be waiting beyond COUNT
		}
	}
	c.handleRedelivered(streams)
}

// fromStart is the XREADGROUP ID list that reads each owned partition's own
// PEL from its start.
func (c *consumer) fromStart() []string {
	ids := make([]string, len(c.owned))
	for p := range ids {
		ids[p] = "0"
	}
	return ids
}

// handleRedelivered hands entries read from the PEL (own pending or claimed)
// to the Handler with their delivery counts.
func (c *consumer) handleRedelivered(streams []goredis.XStream) int {
	counts := c.pendingCounts(streams)
	n := 0
	for i, s := range streams {
		p := c.partitionOf(s.Stream)
		if p < 0 {
			continue
		}
		n += len(s.Messages)
		c.handle(p, s.Messages, counts[i])
	}
	return n
}

// pendingCounts reads, in one pipeline, the PEL delivery counter of every
// entry of streams (one XPENDING per entry, keyed by ID, per stream). An entry
// whose count could not be read is missing from its map and is delivered
// with DeliveryCount 0 (unknown).
func (c *consumer) pendingCounts(streams []goredis.XStream) []map[string]int64 {
	out := make([]map[string]int64, len(streams))
	pipe := c.client.Pipeline()
	cmds := make([][]*goredis.XPendingExtCmd, len(streams))
	for i, s := range streams {
		out[i] = make(map[string]int64, len(s.Messages))
		for _, m := range s.Messages {
			cmds[i] = append(cmds[i], pipe.XPendingExt(c.ctx, &goredis.XPendingExtArgs{
				Stream: s.Stream, Group: c.cfg.Subscription, Start: m.ID, End: m.ID, Count: 1, Consumer: c.name,
			}))
		}
	}
	if pipe.Len() == 0 {
		return out
	}
	_, _ = pipe.Exec(c.ctx) // errors are per command, checked below
	for i := range cmds {
		for _, cmd := range cmds[i] {
			if pe, err := cmd.Result(); err == nil && len(pe) == 1 {
				out[i][pe[0].ID] = pe[0].RetryCount
			}
		}
	}
	return out
}

// setErr records an error of the read loop's background work (dead-lettering,
// redelivery) for diagnostics; the loop itself keeps going.
func (c *consumer) setErr(err error) {
	c.errMu.Lock()
	c.lastErr = err
	c.errMu.Unlock()
}

// bgErr returns the last error recorded by setErr.
func (c *consumer) bgErr() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.lastErr
}

// dlqFor returns, per partition, the dead-letter stream of cfg's
// subscription (nil without DeadLetter) after registering it for
// DeleteTopic.
func (r *Redis) dlqFor(ctx context.Context, cfg adapters.ConsumerConfig, meta topicMeta) ([]string, error) {
	if !meta.deadLetter {
		return nil, nil
	}
	if err := r.admin.SAdd(ctx, dlqSetKey(cfg.Topic), cfg.Subscription).Err(); err != nil {
		return nil, fmt.Errorf("register dead-letter stream: %w", err)
	}
	dlq := make([]string, meta.partitions)
	for p := range dlq {
		dlq[p] = r.layout.dlq(cfg.Topic, cfg.Subscription, p)
	}
	return dlq, nil
}

// handOverIdle is the idle time handOverReleased gives released entries: far
// above any session timeout, so that every other member's next XAUTOCLAIM
// pass takes them, yet below the server clock (XCLAIM clamps an idle time
// reaching before the epoch to 0).
const handOverIdle = 24 * time.Hour

// maxHandOver bounds the entries per partition handOverReleased moves; more
// are claimed by the others after the session timeout as usual.
const maxHandOver = 10000

// handOverReleased runs at Close, after the acks are flushed, when entries
// released in the last batch were not yet redelivered: they are still in
// this consumer's PEL and would otherwise wait for the session timeout.
// XCLAIM <own name> 0 <ids> IDLE <handOverIdle> JUSTID keeps them pending
// under this consumer but marks them long idle without counting a delivery,
// so the other members claim them at their next claim pass.
func (c *consumer) handOverReleased(ctx context.Context) error {
	for _, k := range c.keys {
		pending, err := c.client.XPendingExt(ctx, &goredis.XPendingExtArgs{
			Stream: k, Group: c.cfg.Subscription, Start: "-", End: "+", Count: maxHandOver, Consumer: c.name,
		}).Result()
		if err != nil {
			return fmt.Errorf("close redis consumer %q: hand over released entries: XPENDING %s: %w", c.name, k, err)
		}
		if len(pending) == 0 {
			continue
		}
		args := make([]any, 0, 9+len(pending))
		args = append(args, "XCLAIM", k, c.cfg.Subscription, c.name, 0)
		for _, pe := range pending {
			args = append(args, pe.ID)
		}
		args = append(args, "IDLE", handOverIdle.Milliseconds(), "JUSTID")
		if err := c.client.Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("close redis consumer %q: hand over released entries: XCLAIM %s: %w", c.name, k, err)
		}
	}
	return nil
}
