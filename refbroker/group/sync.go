package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup answers a SyncGroup request (API key 14, v0-v5). The leader's
// sync carries the assignment; every member's sync blocks until the leader's
// arrives and then returns that member's assignment. In a Stable group it
// returns the current assignment at once. If ctx is done first the parked
// sync is abandoned and SyncGroup returns nil.
//
// Version notes: v3+ carries group.instance.id; v5+ carries and echoes the
// protocol type and name, which must match the group's.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	c.mu.Lock()
	w := c.syncLocked(req, resp, c.cfg.Now())
	c.mu.Unlock()
	if w == nil {
		return resp
	}
	select {
	case r := <-w.ch:
		return r
	case <-ctx.Done():
		c.mu.Lock()
		if g := c.groups[req.Group]; g != nil {
			if m := g.members[req.MemberID]; m != nil && m.sync == w {
				m.sync = nil
				c.touch(m, c.cfg.Now())
			}
		}
		c.mu.Unlock()
		return nil
	}
}

func (c *Coordinator) syncLocked(req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse, now time.Time) *syncWaiter {
	g, m, code := c.validateMember(req.Group, req.MemberID, req.InstanceID, req.Generation)
	if code == 0 {
		switch {
		case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
			req.Protocol != nil && *req.Protocol != g.protocol:
			code = kerr.InconsistentGroupProtocol.Code
		}
	}
	if code != 0 {
		resp.ErrorCode = code
		return nil
	}
	switch g.state {
	case StatePreparingRebalance:
		resp.ErrorCode = codeRebalanceInProgress
		return nil
	case StateStable:
		delete(g.pendingSync, m.id)
		g.fillSync(resp, m)
		c.touch(m, now)
		return nil
	case StateCompletingRebalance:
	default:
		resp.ErrorCode = codeUnknownMemberID
		return nil
	}
	delete(g.pendingSync, m.id)
	if m.sync != nil {
		m.sync.fail(codeRebalanceInProgress)
	}
	m.sync = newSyncWaiter(req)
	w := m.sync
	if m.id == g.leader {
		c.completeSync(g, req.GroupAssignment, now)
	}
	return w
}

// completeSync installs the leader's assignment, moves g to Stable and
// answers every parked SyncGroup. Members missing from the plan get an empty
// assignment, as in Kafka; members that have not synced yet get theirs when
// they do.
func (c *Coordinator) completeSync(g *group, plan []kmsg.SyncGroupRequestGroupAssignment, now time.Time) {
	for _, m := range g.members {
		m.assignment = []byte{}
	}
	for _, a := range plan {
		if m := g.members[a.MemberID]; m != nil {
			m.assignment = append([]byte(nil), a.MemberAssignment...)
		}
	}
	g.state = StateStable
	for _, m := range g.sortedMembers() {
		if m.sync == nil {
			continue
		}
		resp := m.sync.req.ResponseKind().(*kmsg.SyncGroupResponse)
		g.fillSync(resp, m)
		m.sync.ch <- resp
		m.sync = nil
		c.touch(m, now)
	}
	if len(g.pendingSync) == 0 {
		g.syncDeadline = time.Time{}
	}
	c.log.Info("group stable", "group", g.id, "generation", g.generation, "members", len(g.members))
}

// validateMember runs the checks SyncGroup, Heartbeat and member commits
// share, in Kafka's order: group exists, instance not fenced, member known,
// generation current. It returns 0 or the error code.
func (c *Coordinator) validateMember(groupID, memberID string, instanceID *string, generation int32) (*group, *member, int16) {
	switch {
	case c.closed:
		return nil, nil, codeCoordinatorNotAvailable
	case groupID == "":
		return nil, nil, kerr.InvalidGroupID.Code
	}
	g := c.groups[groupID]
	if g == nil {
		return nil, nil, codeUnknownMemberID
	}
	if g.fenced(instanceID, memberID) {
		return g, nil, codeFencedInstanceID
	}
	m := g.members[memberID]
	if m == nil {
		return g, nil, codeUnknownMemberID
	}
	if generation != g.generation {
		return g, m, kerr.IllegalGeneration.Code
	}
	return g, m, 0
}

// Heartbeat answers a Heartbeat request (API key 12, v0-v4): it keeps the
// member's session alive and tells it to rejoin (REBALANCE_IN_PROGRESS)
// while the group gathers joins. It never blocks.
func (c *Coordinator) Heartbeat(_ context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	g, m, code := c.validateMember(req.Group, req.MemberID, req.InstanceID, req.Generation)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	switch g.state {
	case StatePreparingRebalance:
		c.touch(m, now)
		resp.ErrorCode = codeRebalanceInProgress
	case StateCompletingRebalance, StateStable:
		c.touch(m, now)
	default:
		resp.ErrorCode = codeUnknownMemberID
	}
	return resp
}

// LeaveGroup answers a LeaveGroup request (API key 13, v0-v5). Each leaving
// member is removed and the group rebalances without it. v3+ may name
// static members by instance id (a member id that does not match the
// instance's current one is FENCED_INSTANCE_ID). For v0-v2 the single
// member's error is the top-level error.
func (c *Coordinator) LeaveGroup(_ context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		resp.ErrorCode = codeCoordinatorNotAvailable
		return resp
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	now := c.cfg.Now()
	g := c.groups[req.Group]
	for _, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = c.leaveOne(g, lm, now)
		resp.Members = append(resp.Members, rm)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

// leaveOne removes one leaving member and returns its error code.
func (c *Coordinator) leaveOne(g *group, lm kmsg.LeaveGroupRequestMember, now time.Time) int16 {
	if g == nil {
		return codeUnknownMemberID
	}
	id := lm.MemberID
	if lm.InstanceID != nil {
		cur, ok := g.static[*lm.InstanceID]
		switch {
		case !ok:
			return codeUnknownMemberID
		case id != "" && id != cur:
			return codeFencedInstanceID
		}
		id = cur
	}
	if _, ok := g.pending[id]; ok {
		delete(g.pending, id)
		if g.state == StatePreparingRebalance {
			c.tryCompleteJoin(g, now)
		}
		return 0
	}
	m := g.members[id]
	if m == nil {
		return codeUnknownMemberID
	}
	reason := "member left"
	if lm.Reason != nil {
		reason += " (" + *lm.Reason + ")"
	}
	c.log.Info("member leaving", "group", g.id, "member", id, "instance", deref(m.instanceID), "reason", reason)
	c.removeMemberAndUpdate(g, m, now, reason)
	return 0
}
