package redis

// Partition ownership and commits.
//
// Redis has consumer groups but no partition assignment: every consumer of
// a group may XREADGROUP any stream. So that a partition is an ordered unit
// consumed by one member at a time, as on every system, the consumers of
// one subscription created through one Redis value form a local group
// (adapters/localgroup) that gives partition p to member p mod n, and each
// member reads only the streams it owns. Members in other processes are
// not coordinated with (docs/adapters/redis.md).
//
// Handover: a revoked partition's owner finishes the batch in hand and
// XACKs what it handled before the revocation returns; the new owner then
// XAUTOCLAIMs, with min-idle 0, every entry still pending on the partition
// (a crashed owner's, entries it read but had not handled, its releases)
// and handles them in ID order before reading new ones, so the partition is
// read in order across the handover.
//
// A commit is an XACK of a group member: the group's restart position on a
// partition is its oldest pending entry, or the group's last-delivered ID
// when none is pending. Since one member owns a partition, handles its
// entries in ID order and claims everything pending on takeover, an XACK
// of handled entries up to ID x whose reply arrived means every entry up
// to x is acknowledged: the next owner reads from above x. That is
// reported to OnCommitted as offset(x)+1, unless released entries (which
// stay pending below x) are outstanding. Queue consumers, which compete
// for every partition, report acks but no commits.

import (
	"context"
	"fmt"
	"slices"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters/localgroup"
)

var _ localgroup.Member = (*consumer)(nil)

// change is an assignment change for the loop: partitions added, or
// revoked (done is closed once the loop has let go of them).
type change struct {
	ps   []int32
	add  bool
	done chan struct{}
}

// ReportsAcks marks Redis as an adapters.AckReporter: consumers call
// OnAcked after each XACK reply and OnCommitted as group.go describes.
func (r *Redis) ReportsAcks() bool { return true }

// Assigned implements localgroup.Member.
func (c *consumer) Assigned() []int32 {
	c.amu.Lock()
	defer c.amu.Unlock()
	return localgroup.Partitions(c.assigned)
}

// Assign implements localgroup.Member: it reports the new partitions
// (OnAssigned, before any of their deliveries) and hands them to the loop.
func (c *consumer) Assign(_ context.Context, ps []int32) error {
	if c.crashed.Load() {
		return nil
	}
	c.amu.Lock()
	var added []int32
	for _, p := range ps {
		if !c.assigned[p] {
			c.assigned[p] = true
			added = append(added, p)
		}
	}
	c.amu.Unlock()
	if len(added) == 0 {
		return nil
	}
	if c.cfg.OnAssigned != nil {
		c.cfg.OnAssigned(added)
	}
	c.push(change{ps: added, add: true})
	return nil
}

// Revoke implements localgroup.Member. Gracefully it waits until the loop
// has handled the batch in hand and XACKed what it handled (or has
// exited), then reports the partitions (OnRevoked).
func (c *consumer) Revoke(ps []int32, graceful bool) {
	c.amu.Lock()
	var gone []int32
	for _, p := range ps {
		if c.assigned[p] {
			delete(c.assigned, p)
			gone = append(gone, p)
		}
	}
	c.amu.Unlock()
	if len(gone) == 0 {
		return
	}
	done := make(chan struct{})
	c.push(change{ps: gone, done: done})
	if !graceful || c.crashed.Load() {
		return
	}
	select {
	case <-done:
	case <-c.exited:
	}
	if c.cfg.OnRevoked != nil {
		c.cfg.OnRevoked(gone)
	}
}

// RecordErr implements localgroup.Member.
func (c *consumer) RecordErr(err error) { c.setErr(err) }

func (c *consumer) push(ch change) {
	c.amu.Lock()
	c.changes = append(c.changes, ch)
	c.amu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// applyChanges applies the assignment changes made since the last turn, in
// order: a revocation XACKs what was handled (acks of a revoked partition
// that fail are dropped: its new owner claims and redelivers those
// entries) and lets the revoker go; an addition first claims and handles
// what is pending on the partition (group members only).
func (c *consumer) applyChanges() {
	c.amu.Lock()
	chs := c.changes
	c.changes = nil
	c.amu.Unlock()
	for _, ch := range chs {
		if !ch.add {
			if err := c.flushAcks(c.ctx); err != nil {
				c.setErr(err)
				for _, p := range ch.ps {
					c.nacks -= len(c.acks[p])
					c.acks[p], c.refs[p] = c.acks[p][:0], c.refs[p][:0]
				}
			}
			c.owned = slices.DeleteFunc(c.owned, func(p int) bool { return slices.Contains(ch.ps, int32(p)) })
			c.setOwnKeys()
			close(ch.done)
			continue
		}
		for _, p := range ch.ps {
			if !slices.Contains(c.owned, int(p)) {
				c.owned = append(c.owned, int(p))
			}
		}
		slices.Sort(c.owned)
		c.setOwnKeys()
		if !c.queue && !c.noAck {
			for _, p := range ch.ps {
				c.takeOver(int(p))
			}
		}
	}
}

func (c *consumer) setOwnKeys() {
	c.ownKeys = c.ownKeys[:0]
	for _, p := range c.owned {
		c.ownKeys = append(c.ownKeys, c.keys[p])
	}
	c.count = c.size.count(len(c.owned))
}

// takeOver claims every entry pending on partition p in the group, whoever
// holds it, and handles them in ID order (see the file comment), reporting
// whether it got through. A claim that fails makes the loop resync (retry)
// before it reads new entries.
func (c *consumer) takeOver(p int) bool {
	start := "0-0"
	for !c.stopping() && !c.crashed.Load() {
		msgs, next, err := c.client.XAutoClaim(c.ctx, &goredis.XAutoClaimArgs{
			Stream: c.keys[p], Group: c.cfg.Subscription, Consumer: c.name,
			MinIdle: 0, Start: start, Count: c.count,
		}).Result()
		if err != nil {
			c.setErr(fmt.Errorf("redis consumer %q: take over partition %d: XAUTOCLAIM: %w", c.name, p, err))
			c.resync = true
			return false
		}
		c.handleRedelivered([]goredis.XStream{{Stream: c.keys[p], Messages: msgs}})
		if next == "0-0" || next == "" {
			return true
		}
		start = next
	}
	return false
}

// reportAcks runs after an XACK pipeline succeeded: it reports the Refs of
// the acknowledged deliveries (OnAcked) and, for a group member, the
// partitions' new committed offsets (OnCommitted).
func (c *consumer) reportAcks() {
	if c.cfg.OnAcked != nil {
		for p, refs := range c.refs {
			if len(refs) > 0 {
				c.cfg.OnAcked(int32(p), refs)
			}
		}
	}
	if c.cfg.OnCommitted == nil || c.queue || c.released {
		return
	}
	var out map[int32]int64
	for p, ids := range c.acks {
		next := int64(-1)
		for _, id := range ids {
			if off := IDToOffset(id); off >= 0 {
				next = max(next, off+1)
			}
		}
		if next > c.committed[p] {
			c.committed[p] = next
			if out == nil {
				out = make(map[int32]int64)
			}
			out[int32(p)] = next
		}
	}
	if out != nil {
		c.cfg.OnCommitted(out)
	}
}
