package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Wire error codes used across the package.
var (
	codeCoordinatorNotAvailable = kerr.CoordinatorNotAvailable.Code
	codeUnknownMemberID         = kerr.UnknownMemberID.Code
	codeRebalanceInProgress     = kerr.RebalanceInProgress.Code
	codeFencedInstanceID        = kerr.FencedInstanceID.Code
)

// touch restarts m's session timer.
func (c *Coordinator) touch(m *member, now time.Time) {
	m.sessionDeadline = now.Add(m.sessionTimeout)
	c.wakeBy(m.sessionDeadline)
}

// maybePrepareRebalance starts a rebalance unless one is already gathering
// joins, in which case it checks whether that one can now complete.
func (c *Coordinator) maybePrepareRebalance(g *group, now time.Time, reason string) {
	switch g.state {
	case StateEmpty, StateStable, StateCompletingRebalance:
		c.prepareRebalance(g, now, reason)
	case StatePreparingRebalance:
		c.tryCompleteJoin(g, now)
	}
}

// prepareRebalance moves g to PreparingRebalance. A round interrupted in
// CompletingRebalance loses its assignments and its parked SyncGroups get
// REBALANCE_IN_PROGRESS, which tells clients to rejoin.
func (c *Coordinator) prepareRebalance(g *group, now time.Time, reason string) {
	if g.state == StateCompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			if m.sync != nil {
				m.sync.fail(codeRebalanceInProgress)
				m.sync = nil
				c.touch(m, now)
			}
		}
	}
	g.pendingSync = nil
	g.syncDeadline = time.Time{}
	timeout := g.maxRebalanceTimeout()
	if g.state == StateEmpty && c.cfg.InitialRebalanceDelay > 0 {
		// Kafka's InitialDelayedJoin: give members started together a
		// moment to arrive so the first generation includes them all.
		g.delayed = true
		g.newJoiner = false
		g.delayCap = now.Add(timeout)
		g.joinDeadline = now.Add(min(c.cfg.InitialRebalanceDelay, timeout))
	} else {
		g.delayed = false
		g.joinDeadline = now.Add(timeout)
	}
	c.log.Info("preparing rebalance", "group", g.id, "from", g.state.String(), "generation", g.generation,
		"members", len(g.members), "reason", reason)
	g.state = StatePreparingRebalance
	c.wakeBy(g.joinDeadline)
	c.tryCompleteJoin(g, now)
}

// tryCompleteJoin completes the join phase early once every member has
// rejoined and no handed-out member id is outstanding (never during an
// initial delay, which exists precisely to wait).
func (c *Coordinator) tryCompleteJoin(g *group, now time.Time) {
	if g.state == StatePreparingRebalance && !g.delayed && g.allJoined() {
		c.completeJoin(g, now)
	}
}

// onJoinDeadline runs when the join phase times out: an initial delay is
// extended while new members keep arriving, otherwise the round completes
// with whoever rejoined.
func (c *Coordinator) onJoinDeadline(g *group, now time.Time) {
	if g.delayed && g.newJoiner && now.Before(g.delayCap) {
		g.newJoiner = false
		g.joinDeadline = now.Add(min(c.cfg.InitialRebalanceDelay, g.delayCap.Sub(now)))
		c.wakeBy(g.joinDeadline)
		return
	}
	g.delayed = false
	c.completeJoin(g, now)
}

// completeJoin ends the join phase: members that did not rejoin are
// removed, the generation advances, a protocol and leader are chosen, and
// every parked JoinGroup is answered (the leader with the member list).
func (c *Coordinator) completeJoin(g *group, now time.Time) {
	for _, m := range g.sortedMembers() {
		if m.join == nil {
			c.log.Info("member removed: did not rejoin in time", "group", g.id, "member", m.id)
			c.removeMember(g, m, codeUnknownMemberID)
		}
	}
	g.delayed = false
	g.joinDeadline = time.Time{}
	g.generation++
	if g.generation < 0 { // wrapped: Kafka restarts at 1 as well
		g.generation = 1
	}
	if len(g.members) == 0 {
		g.state = StateEmpty
		g.protocol = ""
		g.leader = ""
		c.log.Info("group is empty", "group", g.id, "generation", g.generation)
		return
	}
	g.protocol = g.selectProtocol()
	if g.members[g.leader] == nil {
		g.leader = g.sortedMembers()[0].id
	}
	g.state = StateCompletingRebalance
	g.pendingSync = make(map[string]struct{}, len(g.members))
	g.syncDeadline = now.Add(g.maxRebalanceTimeout())
	c.wakeBy(g.syncDeadline)
	for _, m := range g.sortedMembers() {
		g.pendingSync[m.id] = struct{}{}
		resp := m.join.req.ResponseKind().(*kmsg.JoinGroupResponse)
		g.fillJoin(resp, m.id)
		m.join.ch <- resp
		m.join = nil
		m.isNew = false
		c.touch(m, now)
	}
	c.log.Info("join complete", "group", g.id, "generation", g.generation, "protocol", g.protocol,
		"leader", g.leader, "members", len(g.members))
}

// onSyncDeadline removes members that received this generation's
// JoinGroup response but never sent SyncGroup within the rebalance timeout,
// and rebalances without them (Kafka's pending-sync expiry).
func (c *Coordinator) onSyncDeadline(g *group, now time.Time) {
	if g.state != StateCompletingRebalance && g.state != StateStable {
		g.pendingSync = nil
		return
	}
	for id := range g.pendingSync {
		if m := g.members[id]; m != nil {
			c.log.Info("member removed: no SyncGroup within rebalance timeout", "group", g.id, "member", id)
			c.removeMember(g, m, codeUnknownMemberID)
		}
	}
	g.pendingSync = nil
	g.syncDeadline = time.Time{}
	c.prepareRebalance(g, now, "members failed to sync")
}

// removeMember deletes m from g without triggering a rebalance; a parked
// JoinGroup or SyncGroup of m is answered with code.
func (c *Coordinator) removeMember(g *group, m *member, code int16) {
	c.failWaiters(m, code)
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
}

// removeMemberAndUpdate removes m and moves the group on: a settled group
// rebalances, a gathering one may now be complete.
func (c *Coordinator) removeMemberAndUpdate(g *group, m *member, now time.Time, reason string) {
	c.removeMember(g, m, codeUnknownMemberID)
	switch g.state {
	case StateStable, StateCompletingRebalance:
		c.prepareRebalance(g, now, reason+": "+m.id)
	case StatePreparingRebalance:
		c.tryCompleteJoin(g, now)
	}
}

// failWaiters answers m's parked requests with code.
func (c *Coordinator) failWaiters(m *member, code int16) {
	if m.join != nil {
		m.join.fail(code)
		m.join = nil
	}
	if m.sync != nil {
		m.sync.fail(code)
		m.sync = nil
	}
}
