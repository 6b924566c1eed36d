package group

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupType is the KIP-848 group type name of every group here.
const groupType = "classic"

// authorizedGroupOps is the KIP-430 bitfield of operations allowed on a
// group (READ=3, DELETE=6, DESCRIBE=8); refbroker has no ACLs, so all of
// them are.
const authorizedGroupOps int32 = 1<<3 | 1<<6 | 1<<8

// DescribeGroups answers a DescribeGroups request (API key 15, v0-v6). A
// Stable group reports its protocol and each member's metadata and
// assignment; other states report members without them, as Kafka does,
// because they are in flux. An unknown group is reported as state "Dead"
// (v0-v5) or GROUP_ID_NOT_FOUND (v6+, KIP-1043).
//
// Version notes: v3+ returns authorized operations when asked (all, there
// are no ACLs); v4+ reports instance ids.
func (c *Coordinator) DescribeGroups(_ context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = authorizedGroupOps
		}
		g := c.groups[id]
		switch {
		case c.closed:
			dg.ErrorCode = codeCoordinatorNotAvailable
		case id == "":
			dg.ErrorCode = kerr.InvalidGroupID.Code
		case g == nil:
			dg.State = StateDead.String()
			if req.Version >= 6 {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
				dg.ErrorMessage = kmsg.StringPtr("group " + id + " not found")
			}
		default:
			describeGroup(g, &dg)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func describeGroup(g *group, dg *kmsg.DescribeGroupsResponseGroup) {
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	stable := g.state == StateStable
	if stable {
		dg.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID = m.id, m.instanceID
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		if stable {
			dm.ProtocolMetadata = m.metadataFor(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
}

// ListGroups answers a ListGroups request (API key 16, v0-v5) with every
// group, sorted by id. v4+ may filter by state (case-insensitive) and v5+
// by group type; every group here is "classic", so a type filter without
// "classic" lists nothing.
func (c *Coordinator) ListGroups(_ context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		resp.ErrorCode = codeCoordinatorNotAvailable
		return resp
	}
	match := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		g := c.groups[id]
		if !match(req.StatesFilter, g.state.String()) || !match(req.TypesFilter, groupType) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType = id, g.protocolType
		lg.GroupState, lg.GroupType = g.state.String(), groupType
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DeleteGroups answers a DeleteGroups request (API key 42, v0-v3): each
// Empty group is deleted together with its committed offsets (durably);
// a group with members gets NON_EMPTY_GROUP and an unknown one
// GROUP_ID_NOT_FOUND.
func (c *Coordinator) DeleteGroups(_ context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		dg.ErrorCode = c.deleteGroup(id)
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(id string) int16 {
	g := c.groups[id]
	switch {
	case c.closed:
		return codeCoordinatorNotAvailable
	case id == "":
		return kerr.InvalidGroupID.Code
	case g == nil:
		return kerr.GroupIDNotFound.Code
	case g.state != StateEmpty || len(g.members) > 0:
		return kerr.NonEmptyGroup.Code
	}
	if g.hasOffsets() {
		if err := c.persist(&record{kind: kindDeleteGroup, group: id}); err != nil {
			return errCodeForStore(err)
		}
	}
	delete(c.groups, id)
	c.log.Info("group deleted", "group", id)
	return 0
}

// DeleteTopic drops every group's committed offsets for a deleted topic, so
// a topic re-created under the same name starts without stale offsets. A
// persistence failure is logged: the offsets are gone from memory either
// way, and would reappear after a restart only if the write failed.
func (c *Coordinator) DeleteTopic(topic string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleteTopicLocked(topic)
}

// PruneTopics drops the committed offsets of every topic for which exists
// is false. The broker calls it at start: a crash between deleting a
// topic's metadata and recording its offsets' deletion would otherwise
// bring the offsets back, and a topic re-created under the same name
// would start from them.
func (c *Coordinator) PruneTopics(exists func(topic string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	for _, g := range c.groups {
		for topic := range g.offsets {
			seen[topic] = true
		}
	}
	for topic := range seen {
		if !exists(topic) {
			c.log.Warn("dropping committed offsets of a topic that no longer exists", "topic", topic)
			c.deleteTopicLocked(topic)
		}
	}
}

func (c *Coordinator) deleteTopicLocked(topic string) {
	found := false
	for _, g := range c.groups {
		if _, ok := g.offsets[topic]; ok {
			delete(g.offsets, topic)
			found = true
		}
	}
	if found && !c.closed {
		_ = c.persist(&record{kind: kindDeleteTopic, topic: topic})
	}
}
