package share

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxMemberIDLen is the longest member ID accepted: clients generate
// UUIDs (22 base64 or 36 hex characters).
const maxMemberIDLen = 36

// Heartbeat serves ShareGroupHeartbeat: MemberEpoch 0 joins (creating
// the group), -1 leaves (releasing the member's records), anything else
// is a regular heartbeat that must carry the member's current or previous
// epoch. The assignment is sent on a join, on a full heartbeat (one with
// SubscribedTopicNames) and whenever it changed; every member is assigned
// every existing partition of the topics it subscribes to.
func (c *Coordinator) Heartbeat(req *kmsg.ShareGroupHeartbeatRequest, ci ClientInfo) *kmsg.ShareGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	resp.HeartbeatIntervalMillis = int32(c.cfg.HeartbeatInterval.Milliseconds())
	fail := func(code int16, msg string) *kmsg.ShareGroupHeartbeatResponse {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	switch {
	case strings.TrimSpace(req.GroupID) == "":
		return fail(kerr.InvalidRequest.Code, "GroupID is empty")
	case req.MemberID == "" || len(req.MemberID) > maxMemberIDLen:
		return fail(kerr.InvalidRequest.Code, "MemberID must be 1 to 36 characters (a client-generated UUID)")
	case req.MemberEpoch < -1:
		return fail(kerr.InvalidRequest.Code, "MemberEpoch below -1")
	case req.MemberEpoch == 0 && len(req.SubscribedTopicNames) == 0:
		return fail(kerr.InvalidRequest.Code, "a join (MemberEpoch 0) needs SubscribedTopicNames")
	case req.RackID != nil && strings.TrimSpace(*req.RackID) == "":
		return fail(kerr.InvalidRequest.Code, "RackID is empty")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fail(kerr.CoordinatorNotAvailable.Code, "")
	}
	now := c.cfg.Now()
	g := c.groups[req.GroupID]
	if req.MemberEpoch != 0 && g == nil {
		return fail(kerr.GroupIDNotFound.Code, "")
	}
	switch req.MemberEpoch {
	case -1:
		m := g.members[req.MemberID]
		if m == nil {
			return fail(kerr.UnknownMemberID.Code, "")
		}
		if c.removeMemberLocked(g, m) {
			c.broadcastLocked()
		}
		resp.MemberID, resp.MemberEpoch = &req.MemberID, -1
		return resp
	case 0:
		g = c.getOrCreate(req.GroupID)
		m := g.members[req.MemberID]
		if m == nil {
			m = &member{id: req.MemberID}
			g.members[req.MemberID] = m
		}
		c.heartbeatLocked(g, m, req, ci, now, true)
		resp.Assignment = assignment(m)
	default:
		m := g.members[req.MemberID]
		if m == nil {
			return fail(kerr.UnknownMemberID.Code, "")
		}
		if req.MemberEpoch != m.epoch && req.MemberEpoch != m.previous {
			return fail(kerr.FencedMemberEpoch.Code, "")
		}
		if c.heartbeatLocked(g, m, req, ci, now, false) || req.SubscribedTopicNames != nil {
			resp.Assignment = assignment(m)
		}
	}
	m := g.members[req.MemberID]
	resp.MemberID, resp.MemberEpoch = &req.MemberID, m.epoch
	return resp
}

// heartbeatLocked records a heartbeat of m: session deadline, client
// info, subscription, and a recomputed assignment. It returns whether the
// assignment changed, in which case the group and member epochs advance.
func (c *Coordinator) heartbeatLocked(g *group, m *member, req *kmsg.ShareGroupHeartbeatRequest, ci ClientInfo, now time.Time, join bool) bool {
	m.ci = ci
	if req.RackID != nil {
		m.rack = req.RackID
	}
	m.deadline = now.Add(c.cfg.SessionTimeout)
	c.scheduleLocked(m.deadline)
	if req.SubscribedTopicNames != nil {
		m.subs = slices.Clone(req.SubscribedTopicNames)
		slices.Sort(m.subs)
		m.subs = slices.Compact(m.subs)
	}
	next := c.assignLocked(m.subs)
	changed := !sameAssignment(m.assigned, next)
	if changed || (join && m.epoch == 0) {
		g.epoch++
		m.previous, m.epoch = m.epoch, g.epoch
	}
	m.assigned = next
	return changed
}

// assignLocked is the assignor: all partitions of every subscribed topic
// that exists.
func (c *Coordinator) assignLocked(subs []string) map[[16]byte][]int32 {
	out := make(map[[16]byte][]int32, len(subs))
	for _, name := range subs {
		id, n, ok := c.cfg.Topics.TopicByName(name)
		if !ok || n <= 0 {
			continue
		}
		ps := make([]int32, n)
		for i := range ps {
			ps[i] = int32(i)
		}
		out[id] = ps
	}
	return out
}

func sameAssignment(a, b map[[16]byte][]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for id, ps := range a {
		if qs, ok := b[id]; !ok || !slices.Equal(ps, qs) {
			return false
		}
	}
	return true
}

// assignment renders m's assignment, topics in ID order.
func assignment(m *member) *kmsg.ShareGroupHeartbeatResponseAssignment {
	a := new(kmsg.ShareGroupHeartbeatResponseAssignment)
	a.Default()
	for _, id := range sortedIDs(m.assigned) {
		t := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
		t.TopicID, t.Partitions = id, slices.Clone(m.assigned[id])
		a.TopicPartitions = append(a.TopicPartitions, t)
	}
	return a
}

func sortedIDs(m map[[16]byte][]int32) [][16]byte {
	ids := make([][16]byte, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b [16]byte) int { return strings.Compare(string(a[:]), string(b[:])) })
	return ids
}

// Describe serves ShareGroupDescribe. Unknown groups get
// GROUP_ID_NOT_FOUND; AuthorizedOperations is not computed (INT32_MIN).
func (c *Coordinator) Describe(req *kmsg.ShareGroupDescribeRequest) *kmsg.ShareGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.GroupIDs {
		dg := kmsg.NewShareGroupDescribeResponseGroup()
		dg.GroupID = id
		dg.AuthorizedOperations = -2147483648
		g := c.groups[id]
		if g == nil || c.closed {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.GroupState = "Dead"
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		c.describeLocked(g, &dg)
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeLocked(g *group, dg *kmsg.ShareGroupDescribeResponseGroup) {
	dg.GroupState = "Empty"
	if len(g.members) > 0 {
		dg.GroupState = "Stable"
	}
	dg.GroupEpoch, dg.AssignmentEpoch, dg.Assignor = g.epoch, g.epoch, "simple"
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		m := g.members[id]
		dm := kmsg.NewShareGroupDescribeResponseGroupMember()
		dm.MemberID, dm.MemberEpoch, dm.RackID = m.id, m.epoch, m.rack
		dm.ClientID, dm.ClientHost = m.ci.ClientID, m.ci.Host
		dm.SubscribedTopicNames = slices.Clone(m.subs)
		for _, tid := range sortedIDs(m.assigned) {
			t := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
			t.TopicID = tid
			if name, _, ok := c.cfg.Topics.TopicByID(tid); ok {
				t.Topic = name
			}
			t.Partitions = slices.Clone(m.assigned[tid])
			dm.Assignment.TopicPartitions = append(dm.Assignment.TopicPartitions, t)
		}
		dg.Members = append(dg.Members, dm)
	}
}
