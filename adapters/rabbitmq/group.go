package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// groupKey names a subscription of a topic.
type groupKey struct{ topic, sub string }

// group is the local consumer group of one subscription: the consumers of
// it created through one RabbitMQ value. It assigns partition p to the
// (p mod n)-th of its n members in join order.
//
// Lock order: group.mu, then consumer.mu, then group.offMu. Membership
// changes and rebalances are serialised by mu and run synchronously, so a
// Handler must not Close its own consumer (it would wait for itself), and
// OnAssigned/OnRevoked must not create or close consumers of the same
// subscription (they run with mu held).
type group struct {
	key        groupKey
	partitions int

	mu      sync.Mutex
	members []*consumer

	offMu   sync.Mutex
	offsets map[int32]int64 // streams only: next offset to read per partition
}

// groupFor returns the subscription's local group, creating it on first use.
func (r *RabbitMQ) groupFor(topic, sub string, partitions int) (*group, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := groupKey{topic, sub}
	g, ok := r.groups[k]
	if !ok {
		g = newGroup(k, partitions)
		r.groups[k] = g
	}
	if g.partitions != partitions {
		return nil, fmt.Errorf("subscription %q of topic %q: consumers disagree on the partition count (%d, %d)",
			sub, topic, g.partitions, partitions)
	}
	return g, nil
}

// newGroup returns an empty group. Queue consumers each get one that is
// not registered with the System, so that each consumes every partition.
func newGroup(k groupKey, partitions int) *group {
	return &group{key: k, partitions: partitions, offsets: make(map[int32]int64)}
}

// join adds c and rebalances. If c's own partitions fail to start, c is
// removed again and the error returned.
func (g *group) join(ctx context.Context, c *consumer) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members = append(g.members, c)
	if err := g.rebalance(ctx, c); err != nil {
		g.remove(c)
		c.revoke(c.assigned(), false)
		return errors.Join(err, g.rebalance(ctx, nil))
	}
	return nil
}

// leave removes c after revoking its partitions (gracefully: handled
// deliveries acked and OnRevoked called, unless crashed) and hands them to
// the remaining members.
func (g *group) leave(ctx context.Context, c *consumer, graceful bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.remove(c) {
		return nil
	}
	c.revoke(c.assigned(), graceful)
	return g.rebalance(ctx, nil)
}

// remove deletes c from members, reporting whether it was there.
func (g *group) remove(c *consumer) bool {
	i := slices.Index(g.members, c)
	if i < 0 {
		return false
	}
	g.members = slices.Delete(g.members, i, i+1)
	return true
}

// rebalance moves partitions to match the assignment of the current
// members: revocations first, so that a partition's previous owner has
// acked what it handled and closed its channel (the broker then requeues
// the rest) before the new owner consumes. Single-active-consumer would keep
// the new owner waiting anyway; the order just avoids the wait. Errors of
// starting partitions on joiner are returned; those of other members are
// recorded on them and reported by their Close.
func (g *group) rebalance(ctx context.Context, joiner *consumer) error {
	n := len(g.members)
	if n == 0 {
		return nil // nobody to give partitions to; the next joiner gets all
	}
	want := make([][]int32, n)
	for p := range int32(g.partitions) {
		i := int(p) % n
		want[i] = append(want[i], p)
	}
	for i, m := range g.members {
		var gone []int32
		for _, p := range m.assigned() {
			if !slices.Contains(want[i], p) {
				gone = append(gone, p)
			}
		}
		m.revoke(gone, true)
	}
	var joinErr error
	for i, m := range g.members {
		err := m.assign(ctx, want[i])
		switch {
		case err == nil:
		case m == joiner:
			joinErr = err
		default:
			m.recordErr(err)
		}
	}
	return joinErr
}

// nextOffset returns the committed next offset of a stream partition.
func (g *group) nextOffset(p int32) (int64, bool) {
	g.offMu.Lock()
	defer g.offMu.Unlock()
	off, ok := g.offsets[p]
	return off, ok
}

// commit records that every offset below next has been processed. Offsets
// never move backwards: a slow revoked owner cannot undo its successor.
func (g *group) commit(p int32, next int64) {
	g.offMu.Lock()
	defer g.offMu.Unlock()
	if next > g.offsets[p] {
		g.offsets[p] = next
	}
}
