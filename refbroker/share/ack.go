package share

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ackTopic and ackPartition are acknowledgements of one request,
// independent of the request type.
type (
	ackTopic struct {
		id    [16]byte
		parts []ackPartition
	}
	ackPartition struct {
		partition int32
		batches   []ackBatch
	}
)

// acksFromFetch extracts the piggybacked acknowledgements of a ShareFetch.
func acksFromFetch(topics []kmsg.ShareFetchRequestTopic) []ackTopic {
	var out []ackTopic
	for _, t := range topics {
		at := ackTopic{id: t.TopicID}
		for _, p := range t.Partitions {
			if len(p.AcknowledgementBatches) == 0 {
				continue
			}
			ap := ackPartition{partition: p.Partition}
			for _, b := range p.AcknowledgementBatches {
				ap.batches = append(ap.batches, ackBatch{first: b.FirstOffset, last: b.LastOffset, types: b.AcknowledgeTypes})
			}
			at.parts = append(at.parts, ap)
		}
		if len(at.parts) > 0 {
			out = append(out, at)
		}
	}
	return out
}

// acksFromAcknowledge extracts the acknowledgements of a ShareAcknowledge.
func acksFromAcknowledge(topics []kmsg.ShareAcknowledgeRequestTopic) []ackTopic {
	var out []ackTopic
	for _, t := range topics {
		at := ackTopic{id: t.TopicID}
		for _, p := range t.Partitions {
			ap := ackPartition{partition: p.Partition}
			for _, b := range p.AcknowledgementBatches {
				ap.batches = append(ap.batches, ackBatch{first: b.FirstOffset, last: b.LastOffset, types: b.AcknowledgeTypes})
			}
			at.parts = append(at.parts, ap)
		}
		if len(at.parts) > 0 {
			out = append(out, at)
		}
	}
	return out
}

// ackLocked applies acknowledgements of member, calling onResult once per
// acknowledged partition with its error code (0 on success). Each
// partition's batches apply atomically and are written to the state log
// before this returns. It reports whether any record became available.
func (c *Coordinator) ackLocked(g *group, member string, acks []ackTopic, maxType int8, onResult func([16]byte, int32, int16)) bool {
	now := c.cfg.Now()
	limit, lock := c.deliveryLimit(g), c.lockDuration(g)
	released := false
	var touched []tp
	type result struct {
		k    tp
		code int16
	}
	var results []result
	for _, at := range acks {
		_, n, ok := c.cfg.Topics.TopicByID(at.id)
		for _, ap := range at.parts {
			k := tp{at.id, ap.partition}
			code := int16(0)
			switch {
			case !ok:
				code = kerr.UnknownTopicID.Code
			case ap.partition < 0 || ap.partition >= n:
				code = kerr.UnknownTopicOrPartition.Code
			default:
				code = validateBatches(ap.batches, maxType)
			}
			if code == 0 {
				p := g.parts[k]
				if p == nil {
					code = kerr.InvalidRecordState.Code // nothing was ever acquired here
				} else {
					var r bool
					code, r = p.ack(member, ap.batches, limit, now, lock)
					released = released || r
					if p.pending() {
						touched = append(touched, k)
					}
				}
			}
			results = append(results, result{k, code})
		}
	}
	if err := c.flushLocked(g, touched); err != nil {
		c.log.Warn("share: persist acknowledgements", "group", g.id, "member", member, "err", err)
		released = false
		for i := range results {
			if results[i].code == 0 {
				results[i].code = kerr.KafkaStorageError.Code
			}
		}
	}
	for _, r := range results {
		onResult(r.k.topic, r.k.partition, r.code)
	}
	return released
}

// Acknowledge serves ShareAcknowledge: it applies the acknowledgements
// within the member's share session on conn (see StartFetch) and, with
// ShareSessionEpoch -1, closes the session, releasing what the member
// still holds on its partitions.
func (c *Coordinator) Acknowledge(conn any, req *kmsg.ShareAcknowledgeRequest) *kmsg.ShareAcknowledgeResponse {
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	fail := func(code int16, msg string) *kmsg.ShareAcknowledgeResponse {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	groupID, memberID := deref(req.GroupID), deref(req.MemberID)
	if code, msg := validateIDs(groupID, memberID); code != 0 {
		return fail(code, msg)
	}
	maxType := ackReject
	if req.Version >= 2 && req.IsRenewAck {
		maxType = ackRenew
	}
	acks := acksFromAcknowledge(req.Topics)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fail(kerr.CoordinatorNotAvailable.Code, "")
	}
	g := c.groups[groupID]
	if g == nil {
		return fail(kerr.GroupIDNotFound.Code, "")
	}
	resp.AcquisitionLockTimeoutMillis = int32(c.lockDuration(g).Milliseconds())
	onResult := func(id [16]byte, p int32, code int16) {
		ti := -1
		for i := range resp.Topics {
			if resp.Topics[i].TopicID == id {
				ti = i
			}
		}
		if ti < 0 {
			t := kmsg.NewShareAcknowledgeResponseTopic()
			t.TopicID = id
			resp.Topics = append(resp.Topics, t)
			ti = len(resp.Topics) - 1
		}
		sp := kmsg.NewShareAcknowledgeResponseTopicPartition()
		sp.Partition, sp.ErrorCode = p, code
		sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = -1, -1
		resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, sp)
	}
	key := sessionKey{group: groupID, member: memberID, conn: conn}
	s := c.sessions[key]
	switch {
	case req.ShareSessionEpoch == 0:
		return fail(kerr.InvalidShareSessionEpoch.Code, "share sessions are opened by ShareFetch")
	case s == nil:
		return fail(kerr.ShareSessionNotFound.Code, "")
	case req.ShareSessionEpoch == -1:
		c.closeSessionLocked(g, key, s, acks, maxType, onResult)
		return resp
	case req.ShareSessionEpoch != s.epoch:
		return fail(kerr.InvalidShareSessionEpoch.Code, "")
	}
	s.epoch = nextEpoch(s.epoch)
	if c.ackLocked(g, memberID, acks, maxType, onResult) {
		c.broadcastLocked()
	}
	return resp
}
