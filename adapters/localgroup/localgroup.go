// Package localgroup assigns a subscription's partitions to the members
// of it that live in one process, for systems whose servers have no
// partition assignment of their own (RabbitMQ, Redis Streams, NATS
// JetStream). A [Group] gives partition p to the (p mod n)-th of its n
// members in join order; a [Registry] holds one Group per (topic,
// subscription) of one adapters.System value.
//
// The membership is local: consumers of the same subscription in another
// process are not members and are not coordinated with. Each adapter's
// docs say so.
package localgroup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Member is one consumer of a group. The Group calls its methods with the
// group's lock held, so they must not join or leave the same group.
type Member interface {
	// Assigned returns the partitions the member consumes now.
	Assigned() []int32
	// Assign starts consuming every partition of ps not yet consumed and
	// reports the newly started ones (OnAssigned).
	Assign(ctx context.Context, ps []int32) error
	// Revoke stops consuming ps. Gracefully, it returns only once the
	// member handles nothing more of them and has acknowledged or
	// committed what it handled, so that the next owner starts after it;
	// then it reports them (OnRevoked). Otherwise (a crash) it does not
	// wait and reports nothing.
	Revoke(ps []int32, graceful bool)
	// RecordErr keeps an error of a rebalance the member did not start,
	// for its Close to report.
	RecordErr(err error)
}

// Group is the local consumer group of one subscription. Membership
// changes and rebalances are serialised and run synchronously, so a
// Handler must not Close its own consumer (it would wait for itself), and
// OnAssigned/OnRevoked must not create or close consumers of the same
// subscription. Lock order: the group's lock, then the members' own
// locks, then the committed-offset lock.
type Group struct {
	partitions int

	mu      sync.Mutex
	members []Member

	offMu   sync.Mutex
	offsets map[int32]int64 // next offset to read per partition, for systems that keep them locally
}

// New returns an empty group of a topic with the given partition count.
// A queue consumer (competing for every partition) gets a group of its
// own, not registered anywhere, so that it is assigned all of them.
func New(partitions int) *Group {
	return &Group{partitions: partitions, offsets: make(map[int32]int64)}
}

// Join adds m and rebalances. If m's own partitions fail to start, m is
// removed again and the error returned.
func (g *Group) Join(ctx context.Context, m Member) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members = append(g.members, m)
	if err := g.rebalance(ctx, m); err != nil {
		g.remove(m)
		m.Revoke(m.Assigned(), false)
		return errors.Join(err, g.rebalance(ctx, nil))
	}
	return nil
}

// Leave removes m after revoking its partitions (gracefully unless it
// crashed) and hands them to the remaining members.
func (g *Group) Leave(ctx context.Context, m Member, graceful bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.remove(m) {
		return nil
	}
	m.Revoke(m.Assigned(), graceful)
	return g.rebalance(ctx, nil)
}

// remove deletes m from members, reporting whether it was there.
func (g *Group) remove(m Member) bool {
	i := slices.Index(g.members, m)
	if i < 0 {
		return false
	}
	g.members = slices.Delete(g.members, i, i+1)
	return true
}

// rebalance moves partitions to match the assignment of the current
// members: every revocation first, so that a partition's previous owner
// has stopped and acknowledged what it handled before the new owner
// starts; a partition is never consumed by two members at once. Errors of
// starting partitions on joiner are returned; those of other members are
// recorded on them and reported by their Close.
func (g *Group) rebalance(ctx context.Context, joiner Member) error {
	n := len(g.members)
	if n == 0 {
		return nil // nobody to give partitions to; the next joiner gets all
	}
	want := Assignment(g.partitions, n)
	for i, m := range g.members {
		var gone []int32
		for _, p := range m.Assigned() {
			if !slices.Contains(want[i], p) {
				gone = append(gone, p)
			}
		}
		if len(gone) > 0 {
			m.Revoke(gone, true)
		}
	}
	var joinErr error
	for i, m := range g.members {
		err := m.Assign(ctx, want[i])
		switch {
		case err == nil:
		case m == joiner:
			joinErr = err
		default:
			m.RecordErr(err)
		}
	}
	return joinErr
}

// Assignment returns, per member of n, the partitions of [0, partitions)
// it owns: partition p goes to member p mod n.
func Assignment(partitions, n int) [][]int32 {
	want := make([][]int32, n)
	for p := range int32(partitions) {
		i := int(p) % n
		want[i] = append(want[i], p)
	}
	return want
}

// Committed returns the group's committed next offset of partition p,
// for systems that keep offsets locally (RabbitMQ streams over AMQP).
func (g *Group) Committed(p int32) (int64, bool) {
	g.offMu.Lock()
	defer g.offMu.Unlock()
	off, ok := g.offsets[p]
	return off, ok
}

// Commit records that every offset of p below next has been processed and
// reports whether that moved the committed offset. Offsets never move
// backwards: a slow revoked owner cannot undo its successor.
func (g *Group) Commit(p int32, next int64) bool {
	g.offMu.Lock()
	defer g.offMu.Unlock()
	if cur, ok := g.offsets[p]; ok && next <= cur {
		return false
	}
	g.offsets[p] = next
	return true
}

// Registry holds the groups of one System value, one per (topic,
// subscription). The zero value is ready; it is safe for concurrent use.
type Registry struct {
	mu     sync.Mutex
	groups map[key]*Group
}

type key struct{ topic, sub string }

// Group returns subscription sub's group of topic, creating it on first
// use. Members must agree on the partition count.
func (r *Registry) Group(topic, sub string, partitions int) (*Group, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.groups == nil {
		r.groups = make(map[key]*Group)
	}
	k := key{topic, sub}
	g, ok := r.groups[k]
	if !ok {
		g = New(partitions)
		r.groups[k] = g
	}
	if g.partitions != partitions {
		return nil, fmt.Errorf("subscription %q of topic %q: consumers disagree on the partition count (%d, %d)",
			sub, topic, g.partitions, partitions)
	}
	return g, nil
}

// Forget drops every group of topic (the topic was deleted), so that a
// topic re-created under the same name starts with fresh groups and no
// committed offsets.
func (r *Registry) Forget(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.groups {
		if k.topic == topic {
			delete(r.groups, k)
		}
	}
}

// Partitions returns the keys of a member's per-partition state, sorted:
// what its Assigned returns.
func Partitions[V any](m map[int32]V) []int32 {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}
