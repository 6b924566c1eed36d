package group

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit answers an OffsetCommit request (API key 8, v0-v9). A
// commit with generation -1, no member id and no instance id is a simple
// (admin or manual-assignment) commit, allowed only while the group has no
// members; any other commit must come from a current member at the current
// generation, and is refused with REBALANCE_IN_PROGRESS while the group
// waits for its leader's assignment. Commits during PreparingRebalance are
// accepted (eager clients commit in their revoke callback), as in Kafka.
// With Config.Dir set the commit is durable (fsynced with Config.Fsync)
// before the response says so.
//
// Version notes: v0 carries no generation (treated as simple); v2-v4
// retention times are ignored (offsets live until their group or topic is
// deleted); v6+ stores the leader epoch; v7+ carries the instance id.
func (c *Coordinator) OffsetCommit(_ context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	g, code := c.commitTarget(req, c.cfg.Now())
	rec := record{kind: kindCommit}
	if g != nil {
		rec.group, rec.protocolType = g.id, g.protocolType
	}
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetCommitResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewOffsetCommitResponseTopicPartition()
			p.Partition = rp.Partition
			p.ErrorCode = code
			if code == 0 {
				p.ErrorCode = c.stageCommit(&rec, rt.Topic, rp, req.Version)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if code != 0 || len(rec.entries) == 0 {
		return resp
	}
	if err := c.persist(&rec); err != nil {
		failStaged(resp, errCodeForStore(err))
		return resp
	}
	for _, e := range rec.entries {
		setOffset(g.offsets, e.topic, e.partition, e.committed)
	}
	return resp
}

// commitTarget validates who may commit and returns the group (created for
// a simple commit to an unknown group) or an error code for the whole
// request.
func (c *Coordinator) commitTarget(req *kmsg.OffsetCommitRequest, now time.Time) (*group, int16) {
	gen, memberID := req.Generation, req.MemberID
	if req.Version == 0 {
		gen, memberID = -1, ""
	}
	simple := gen < 0 && memberID == "" && req.InstanceID == nil
	switch {
	case c.closed:
		return nil, codeCoordinatorNotAvailable
	case req.Group == "":
		return nil, kerr.InvalidGroupID.Code
	}
	g := c.groups[req.Group]
	if g == nil {
		switch {
		case !simple && gen >= 0:
			return nil, kerr.IllegalGeneration.Code
		case !simple:
			return nil, codeUnknownMemberID
		}
		g = newGroup(strings.Clone(req.Group))
		c.groups[g.id] = g
	}
	if simple {
		if g.state != StateEmpty {
			return nil, codeUnknownMemberID // only members may commit to a live group
		}
		return g, 0
	}
	if g.fenced(req.InstanceID, memberID) {
		return nil, codeFencedInstanceID
	}
	m := g.members[memberID]
	switch {
	case m == nil:
		return nil, codeUnknownMemberID
	case gen != g.generation:
		return nil, kerr.IllegalGeneration.Code
	case g.state == StateCompletingRebalance:
		return nil, codeRebalanceInProgress
	}
	if m.join == nil && m.sync == nil {
		c.touch(m, now) // a commit proves liveness, as in Kafka
	}
	return g, 0
}

// stageCommit validates one partition and adds it to rec, returning its
// error code.
func (c *Coordinator) stageCommit(rec *record, topic string, rp kmsg.OffsetCommitRequestTopicPartition, version int16) int16 {
	if c.cfg.PartitionExists != nil && !c.cfg.PartitionExists(topic, rp.Partition) {
		return kerr.UnknownTopicOrPartition.Code
	}
	if rp.Metadata != nil && len(*rp.Metadata) > c.cfg.MaxMetadataBytes {
		return kerr.OffsetMetadataTooLarge.Code
	}
	epoch := rp.LeaderEpoch
	if version < 6 {
		epoch = -1
	}
	md := "" // Kafka stores a null metadata as ""
	if rp.Metadata != nil {
		md = strings.Clone(*rp.Metadata)
	}
	rec.entries = append(rec.entries, offsetEntry{
		topic:     strings.Clone(topic),
		partition: rp.Partition,
		committed: committed{offset: rp.Offset, leaderEpoch: epoch, metadata: &md},
	})
	return 0
}

// persist appends rec to the durable log, compacting it when it has grown.
func (c *Coordinator) persist(rec *record) error {
	if c.store == nil {
		return nil
	}
	if err := c.store.append(rec); err != nil {
		c.log.Error("persist offsets", "group", rec.group, "topic", rec.topic, "err", err)
		return err
	}
	if c.store.needsCompaction() {
		if err := c.store.rewrite(c.liveOffsets()); err != nil {
			// The record itself is durable; only the rewrite failed.
			c.log.Error("compact offsets log", "err", err)
		}
	}
	return nil
}

// liveOffsets snapshots every group's offsets for compaction. The maps are
// shared, not copied: rewrite only reads them, under the same mutex.
func (c *Coordinator) liveOffsets() map[string]*groupOffsets {
	live := make(map[string]*groupOffsets, len(c.groups))
	for id, g := range c.groups {
		if g.hasOffsets() {
			live[id] = &groupOffsets{protocolType: g.protocolType, offsets: g.offsets}
		}
	}
	return live
}

// errCodeForStore maps a persistence failure to a commit error: a transient
// write error is retriable (COORDINATOR_NOT_AVAILABLE, as Kafka answers
// when the offsets topic cannot be written); a broken store is not.
func errCodeForStore(err error) int16 {
	if errors.Is(err, ErrStoreBroken) {
		return kerr.UnknownServerError.Code
	}
	return codeCoordinatorNotAvailable
}

// failStaged replaces every successful partition code with code.
func failStaged(resp *kmsg.OffsetCommitResponse, code int16) {
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if p := &resp.Topics[i].Partitions[j]; p.ErrorCode == 0 {
				p.ErrorCode = code
			}
		}
	}
}

// fetchedPartition is one answered partition, independent of the version.
type fetchedPartition struct {
	partition int32
	committed
}

type fetchedTopic struct {
	topic      string
	partitions []fetchedPartition
}

// OffsetFetch answers an OffsetFetch request (API key 9, v0-v9). Nil topics
// (v2+) means every topic the group has offsets for; a partition without a
// committed offset gets offset -1, leader epoch -1 and empty metadata. An
// unknown group is not an error: it simply has no offsets. v8+ may ask for
// several groups at once.
//
// RequireStable (v7+) is accepted and ignored: refbroker has no
// transactions, so no offset is ever pending and every offset is stable.
// MemberID/MemberEpoch (v9+) apply to KIP-848 groups only and are ignored
// for classic groups, as in Kafka.
func (c *Coordinator) OffsetFetch(_ context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []kmsg.OffsetFetchRequestTopic
			for _, t := range rg.Topics {
				topics = append(topics, kmsg.OffsetFetchRequestTopic{Topic: t.Topic, Partitions: t.Partitions})
			}
			fetched, code := c.fetchOffsets(rg.Group, topics, rg.Topics == nil)
			resp.Groups = append(resp.Groups, groupFetchResponse(rg.Group, fetched, code))
		}
		return resp
	}
	fetched, code := c.fetchOffsets(req.Group, req.Topics, req.Version >= 2 && req.Topics == nil)
	resp.ErrorCode = code
	for _, ft := range fetched {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = ft.topic
		for _, fp := range ft.partitions {
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = fp.partition, fp.offset, fp.leaderEpoch, fp.metadata
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if req.Version < 2 && code != 0 {
		// v0-v1 have no top-level error: report it per partition.
		resp.ErrorCode = 0
		for _, rt := range req.Topics {
			t := kmsg.NewOffsetFetchResponseTopic()
			t.Topic = rt.Topic
			for _, part := range rt.Partitions {
				p := kmsg.NewOffsetFetchResponseTopicPartition()
				p.Partition, p.ErrorCode = part, code
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
	}
	return resp
}

func groupFetchResponse(id string, fetched []fetchedTopic, code int16) kmsg.OffsetFetchResponseGroup {
	g := kmsg.NewOffsetFetchResponseGroup()
	g.Group, g.ErrorCode = id, code
	for _, ft := range fetched {
		t := kmsg.NewOffsetFetchResponseGroupTopic()
		t.Topic = ft.topic
		for _, fp := range ft.partitions {
			p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = fp.partition, fp.offset, fp.leaderEpoch, fp.metadata
			t.Partitions = append(t.Partitions, p)
		}
		g.Topics = append(g.Topics, t)
	}
	return g
}

// fetchOffsets looks up one group's offsets. all selects every committed
// topic (sorted); otherwise the requested topics are answered in request
// order. It returns a group-level error code or 0.
func (c *Coordinator) fetchOffsets(groupID string, topics []kmsg.OffsetFetchRequestTopic, all bool) ([]fetchedTopic, int16) {
	switch {
	case c.closed:
		return nil, codeCoordinatorNotAvailable
	case groupID == "":
		return nil, kerr.InvalidGroupID.Code
	}
	var offsets map[string]map[int32]committed
	if g := c.groups[groupID]; g != nil {
		offsets = g.offsets
	}
	if all {
		names := make([]string, 0, len(offsets))
		for t := range offsets {
			names = append(names, t)
		}
		slices.Sort(names)
		topics = topics[:0:0]
		for _, t := range names {
			ps := make([]int32, 0, len(offsets[t]))
			for p := range offsets[t] {
				ps = append(ps, p)
			}
			slices.Sort(ps)
			topics = append(topics, kmsg.OffsetFetchRequestTopic{Topic: t, Partitions: ps})
		}
	}
	out := make([]fetchedTopic, 0, len(topics))
	for _, rt := range topics {
		ft := fetchedTopic{topic: rt.Topic}
		for _, p := range rt.Partitions {
			cm, ok := offsets[rt.Topic][p]
			if !ok {
				empty := ""
				cm = committed{offset: -1, leaderEpoch: -1, metadata: &empty}
			}
			ft.partitions = append(ft.partitions, fetchedPartition{partition: p, committed: cm})
		}
		out = append(out, ft)
	}
	return out, 0
}
