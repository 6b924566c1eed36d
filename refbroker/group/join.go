package group

import (
	"context"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup answers a JoinGroup request (API key 11, v0-v9). It blocks
// until the member's join round completes, then returns the generation,
// chosen protocol and leader (the leader also gets every member's
// metadata). If ctx is done first (the client's connection closed), the
// member's pending join is abandoned and JoinGroup returns nil: there is no
// one to answer.
//
// Version notes: v4+ dynamic members first get MEMBER_ID_REQUIRED with a
// generated id and must rejoin with it; v5+ carries group.instance.id
// (static membership); v7+ echoes the protocol type; v9+ tells a restarted
// static leader to skip assignment (KIP-814).
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	c.mu.Lock()
	w := c.joinLocked(req, resp, clientInfoFrom(ctx), c.cfg.Now())
	c.mu.Unlock()
	if w == nil {
		return resp
	}
	select {
	case r := <-w.ch:
		return r
	case <-ctx.Done():
		c.mu.Lock()
		c.abandonJoin(req.Group, w, c.cfg.Now())
		c.mu.Unlock()
		return nil
	}
}

// joinLocked applies one JoinGroup. It fills resp and returns nil when the
// answer is immediate, or returns the waiter the caller must park on.
func (c *Coordinator) joinLocked(req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse, ci ClientInfo, now time.Time) *joinWaiter {
	resp.MemberID = req.MemberID
	st := millis(req.SessionTimeoutMillis)
	switch {
	case c.closed:
		resp.ErrorCode = codeCoordinatorNotAvailable
		return nil
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return nil
	case st < c.cfg.MinSessionTimeout || st > c.cfg.MaxSessionTimeout:
		resp.ErrorCode = kerr.InvalidSessionTimeout.Code
		return nil
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return nil
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			resp.ErrorCode = codeUnknownMemberID
			return nil
		}
		g = newGroup(strings.Clone(req.Group))
		c.groups[g.id] = g
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return nil
	}
	if req.MemberID == "" {
		return c.joinUnknownMember(g, req, resp, ci, now)
	}
	return c.joinKnownMember(g, req, resp, ci, now)
}

// joinUnknownMember handles a join without a member id: a brand-new member,
// or a restarted static member.
func (c *Coordinator) joinUnknownMember(g *group, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse, ci ClientInfo, now time.Time) *joinWaiter {
	prefix := ci.ClientID
	if req.InstanceID != nil {
		prefix = *req.InstanceID
	}
	id := newMemberID(prefix)
	if req.InstanceID != nil {
		if oldID, ok := g.static[*req.InstanceID]; ok && g.members[oldID] != nil {
			return c.replaceStatic(g, g.members[oldID], id, req, resp, ci, now)
		}
		// KIP-345: static members skip MEMBER_ID_REQUIRED; the
		// instance id already makes the join idempotent.
		return c.addMember(g, id, req, ci, now)
	}
	if req.Version >= 4 {
		// KIP-394: hand out the id first, so a client that times out
		// and retries reuses it instead of leaking ghost members.
		exp := now.Add(millis(req.SessionTimeoutMillis))
		g.pending[id] = exp
		c.wakeBy(exp)
		resp.MemberID = id
		resp.ErrorCode = kerr.MemberIDRequired.Code
		return nil
	}
	return c.addMember(g, id, req, ci, now)
}

// joinKnownMember handles a join that carries a member id.
func (c *Coordinator) joinKnownMember(g *group, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse, ci ClientInfo, now time.Time) *joinWaiter {
	if _, ok := g.pending[req.MemberID]; ok {
		return c.addMember(g, req.MemberID, req, ci, now)
	}
	if g.fenced(req.InstanceID, req.MemberID) {
		resp.ErrorCode = codeFencedInstanceID
		return nil
	}
	m := g.members[req.MemberID]
	if m == nil {
		resp.ErrorCode = codeUnknownMemberID
		return nil
	}
	switch g.state {
	case StatePreparingRebalance:
		w := c.updateMember(g, m, req, ci, now)
		c.tryCompleteJoin(g, now)
		return w
	case StateCompletingRebalance:
		if m.matches(req.Protocols) {
			// A retried join of this round (lost response):
			// answer it again without restarting the round.
			g.fillJoin(resp, m.id)
			c.touch(m, now)
			return nil
		}
	case StateStable:
		if m.id != g.leader && m.matches(req.Protocols) {
			// A follower with unchanged metadata has nothing to
			// rebalance for; it gets the current generation back.
			// A leader rejoin, or any metadata change (for example a
			// cooperative member that gave up partitions), does
			// start a round.
			g.fillJoin(resp, m.id)
			c.touch(m, now)
			return nil
		}
	default:
		resp.ErrorCode = codeUnknownMemberID
		return nil
	}
	w := c.updateMember(g, m, req, ci, now)
	c.prepareRebalance(g, now, "member rejoined with new metadata or as leader")
	return w
}

// addMember adds a new member parked in join and moves the group towards a
// rebalance.
func (c *Coordinator) addMember(g *group, id string, req *kmsg.JoinGroupRequest, ci ClientInfo, now time.Time) *joinWaiter {
	delete(g.pending, id)
	if len(g.members) == 0 {
		g.protocolType = strings.Clone(req.ProtocolType)
	}
	m := &member{id: id, instanceID: cloneStr(req.InstanceID), seq: g.nextSeq, isNew: true}
	g.nextSeq++
	m.update(req, ci)
	// Capture the waiter before any transition: the round may complete
	// inside maybePrepareRebalance, which answers and clears m.join.
	w := newJoinWaiter(req)
	m.join = w
	g.members[id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = id
	}
	if g.leader == "" {
		g.leader = id
	}
	if g.state == StatePreparingRebalance && g.delayed {
		g.newJoiner = true
	}
	c.log.Debug("member added", "group", g.id, "member", id, "instance", deref(m.instanceID))
	c.maybePrepareRebalance(g, now, "new member "+id)
	return w
}

// updateMember records a rejoin of m and parks it in join. A join that
// replaces one still parked answers the old one with REBALANCE_IN_PROGRESS
// (its connection is most likely gone; if not, the client rejoins).
func (c *Coordinator) updateMember(g *group, m *member, req *kmsg.JoinGroupRequest, ci ClientInfo, now time.Time) *joinWaiter {
	if m.join != nil {
		m.join.fail(codeRebalanceInProgress)
	}
	m.update(req, ci)
	m.join = newJoinWaiter(req)
	return m.join
}

// replaceStatic handles a restarted static member (known instance id, no
// member id): the old incarnation is fenced, the new member id takes over
// its assignment, and a Stable group does not rebalance unless the
// selected protocol would change (KIP-345).
func (c *Coordinator) replaceStatic(g *group, old *member, newID string, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse, ci ClientInfo, now time.Time) *joinWaiter {
	c.failWaiters(old, codeFencedInstanceID)
	m := &member{
		id: newID, instanceID: old.instanceID, seq: old.seq,
		clientID: old.clientID, clientHost: old.clientHost,
		assignment: old.assignment,
	}
	m.update(req, ci)
	delete(g.members, old.id)
	g.members[newID] = m
	g.static[*m.instanceID] = newID
	wasLeader := g.leader == old.id
	if wasLeader {
		g.leader = newID
	}
	if _, ok := g.pendingSync[old.id]; ok {
		delete(g.pendingSync, old.id)
		g.pendingSync[newID] = struct{}{}
	}
	c.touch(m, now)
	c.log.Info("static member replaced", "group", g.id, "instance", *m.instanceID, "old_member", old.id, "member", newID, "state", g.state.String())

	w := newJoinWaiter(req) // captured: transitions below may answer and clear m.join
	switch g.state {
	case StateStable:
		if g.selectProtocol() == g.protocol {
			g.fillJoin(resp, newID)
			if wasLeader {
				if req.Version >= 9 {
					resp.SkipAssignment = true // KIP-814: leader, but keep the plan
				} else {
					// Pre-KIP-814: report the old leader id, so the
					// restarted leader acts as a follower and does
					// not compute a plan a Stable group would drop.
					resp.LeaderID = old.id
					resp.Members = nil
				}
			}
			return nil
		}
		m.join = w
		c.prepareRebalance(g, now, "static member "+newID+" changes the group protocol")
	case StateCompletingRebalance:
		// The leader may be assigning to the old member id; the new
		// id would get nothing, so run the round again.
		m.join = w
		c.prepareRebalance(g, now, "static member "+newID+" rejoined during sync")
	default: // PreparingRebalance: the new incarnation simply joins this round
		m.join = w
		c.tryCompleteJoin(g, now)
	}
	return w
}

// abandonJoin withdraws a parked join whose caller went away. A member that
// never completed a join is removed outright so it cannot hold up the round;
// an established member merely stops counting as rejoined and is removed at
// the join deadline unless it comes back.
func (c *Coordinator) abandonJoin(groupID string, w *joinWaiter, now time.Time) {
	g := c.groups[groupID]
	if g == nil {
		return
	}
	for _, m := range g.members {
		if m.join != w {
			continue
		}
		m.join = nil
		if m.isNew {
			c.log.Info("new member left while joining", "group", g.id, "member", m.id)
			c.removeMember(g, m, codeUnknownMemberID)
			c.tryCompleteJoin(g, now)
			return
		}
		c.touch(m, now)
		return
	}
}

func cloneStr(s *string) *string {
	if s == nil {
		return nil
	}
	v := strings.Clone(*s)
	return &v
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
