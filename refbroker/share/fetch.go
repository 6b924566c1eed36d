package share

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch is a ShareFetch accepted by StartFetch: its session is valid and
// its piggybacked acknowledgements are applied. The broker calls Acquire
// (repeatedly while long-polling), adds the records' bytes with
// SetRecords and sends Response. A Fetch is used by one goroutine.
type Fetch struct {
	key   sessionKey
	sess  *session
	resp  *kmsg.ShareFetchResponse
	max   int32
	parts []FetchPartition
	// index of each partition's entry in resp, created lazily.
	entries map[tp][2]int
}

// FetchPartition is one partition of a share session.
type FetchPartition struct {
	TopicID   [16]byte
	Partition int32
}

// Acquired is the records acquired on one partition by one Acquire call.
type Acquired struct {
	TopicID   [16]byte
	Partition int32
	// First and Last bound the acquired offsets; the broker returns the
	// log's batches covering [First, Last].
	First, Last int64
	Ranges      []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
}

// Partitions returns the session's partitions, in topic ID and partition
// order. The broker waits on their logs while long-polling.
func (f *Fetch) Partitions() []FetchPartition { return f.parts }

// entry returns the response entry for (id, p), creating it.
func (f *Fetch) entry(id [16]byte, p int32) *kmsg.ShareFetchResponseTopicPartition {
	return fetchEntry(f.resp, f.entries, id, p)
}

func fetchEntry(resp *kmsg.ShareFetchResponse, idx map[tp][2]int, id [16]byte, p int32) *kmsg.ShareFetchResponseTopicPartition {
	k := tp{id, p}
	if at, ok := idx[k]; ok {
		return &resp.Topics[at[0]].Partitions[at[1]]
	}
	ti := slices.IndexFunc(resp.Topics, func(t kmsg.ShareFetchResponseTopic) bool { return t.TopicID == id })
	if ti < 0 {
		t := kmsg.NewShareFetchResponseTopic()
		t.TopicID = id
		resp.Topics = append(resp.Topics, t)
		ti = len(resp.Topics) - 1
	}
	sp := kmsg.NewShareFetchResponseTopicPartition()
	sp.Partition = p
	// No leader hint: -1/-1 is the schema default; 0/0 would name node 0.
	sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = -1, -1
	resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, sp)
	idx[k] = [2]int{ti, len(resp.Topics[ti].Partitions) - 1}
	return &resp.Topics[ti].Partitions[len(resp.Topics[ti].Partitions)-1]
}

// SetRecords attaches acquired records and their batches to the response.
// data must stay valid until the response is encoded.
func (f *Fetch) SetRecords(a Acquired, data []byte) {
	e := f.entry(a.TopicID, a.Partition)
	e.Records = data
	e.AcquiredRecords = a.Ranges
}

// Response returns the response, with an entry for every session
// partition (so the client sees every partition's acknowledgement and
// error results).
func (f *Fetch) Response() *kmsg.ShareFetchResponse {
	for _, p := range f.parts {
		f.entry(p.TopicID, p.Partition)
	}
	for i := range f.resp.Topics {
		for j := range f.resp.Topics[i].Partitions {
			if sp := &f.resp.Topics[i].Partitions[j]; sp.Records == nil {
				sp.Records = []byte{} // never null, as in Fetch (librdkafka rejects null)
			}
		}
	}
	return f.resp
}

// StartFetch validates a ShareFetch, opens, updates or closes its share
// session (keyed by group, member and conn: the broker passes a
// comparable value identifying the connection), and applies piggybacked
// acknowledgements. When the response is already complete (an error, a
// session close, a renew-only request) it returns it and a nil Fetch.
func (c *Coordinator) StartFetch(conn any, req *kmsg.ShareFetchRequest) (*kmsg.ShareFetchResponse, *Fetch) {
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	fail := func(code int16, msg string) (*kmsg.ShareFetchResponse, *Fetch) {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp, nil
	}
	groupID, memberID := deref(req.GroupID), deref(req.MemberID)
	if code, msg := validateIDs(groupID, memberID); code != 0 {
		return fail(code, msg)
	}
	renew := req.Version >= 2 && req.IsRenewAck
	if renew && (req.MaxBytes != 0 || req.MinBytes != 0 || req.MaxRecords != 0 || req.MaxWaitMillis != 0) {
		return fail(kerr.InvalidRequest.Code, "IsRenewAck requires zero MaxBytes, MinBytes, MaxRecords and MaxWaitMillis")
	}
	acks := acksFromFetch(req.Topics)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fail(kerr.CoordinatorNotAvailable.Code, "")
	}
	key := sessionKey{group: groupID, member: memberID, conn: conn}
	g := c.groups[groupID]
	resp.AcquisitionLockTimeoutMillis = int32(c.cfg.LockDuration.Milliseconds())
	if g != nil {
		resp.AcquisitionLockTimeoutMillis = int32(c.lockDuration(g).Milliseconds())
	}
	idx := make(map[tp][2]int)
	onAck := func(id [16]byte, p int32, code int16) {
		fetchEntry(resp, idx, id, p).AcknowledgeErrorCode = code
	}
	maxType := ackReject
	if renew {
		maxType = ackRenew
	}
	if req.ShareSessionEpoch == -1 {
		s := c.sessions[key]
		if s == nil || g == nil {
			return fail(kerr.ShareSessionNotFound.Code, "")
		}
		c.closeSessionLocked(g, key, s, acks, maxType, onAck)
		return resp, nil
	}
	s, g, code, msg := c.useSessionLocked(key, g, req, len(acks) > 0)
	if code != 0 {
		return fail(code, msg)
	}
	resp.AcquisitionLockTimeoutMillis = int32(c.lockDuration(g).Milliseconds())
	if len(acks) > 0 && c.ackLocked(g, memberID, acks, maxType, onAck) {
		c.broadcastLocked()
	}
	if renew {
		return resp, nil
	}
	return resp, newFetch(key, s, resp, idx, req.MaxRecords)
}

// useSessionLocked opens (epoch 0) or checks the share session of key,
// applies the request's partition changes and advances its epoch. It
// returns the session and its group, or an error code and message.
func (c *Coordinator) useSessionLocked(key sessionKey, g *group, req *kmsg.ShareFetchRequest, hasAcks bool) (*session, *group, int16, string) {
	switch {
	case req.ShareSessionEpoch == 0:
		if hasAcks {
			return nil, nil, kerr.InvalidRequest.Code, "a new share session (epoch 0) cannot carry acknowledgements"
		}
		g = c.getOrCreate(key.group)
		c.sessions[key] = &session{parts: make(map[tp]struct{})}
	case req.ShareSessionEpoch < 0:
		return nil, nil, kerr.InvalidShareSessionEpoch.Code, ""
	}
	s := c.sessions[key]
	if s == nil || g == nil {
		return nil, nil, kerr.ShareSessionNotFound.Code, ""
	}
	if req.ShareSessionEpoch != s.epoch {
		return nil, nil, kerr.InvalidShareSessionEpoch.Code, ""
	}
	updateSession(s, req)
	s.epoch = nextEpoch(s.epoch)
	return s, g, 0, ""
}

// newFetch builds the Fetch of a session: its partitions in topic ID and
// partition order, rotated by the session epoch so one busy partition
// does not take every fetch's MaxRecords.
func newFetch(key sessionKey, s *session, resp *kmsg.ShareFetchResponse, idx map[tp][2]int, maxRecords int32) *Fetch {
	f := &Fetch{key: key, sess: s, resp: resp, entries: idx, max: maxRecords}
	if f.max <= 0 {
		f.max = DefaultMaxFetchRecords
	}
	for k := range s.parts {
		f.parts = append(f.parts, FetchPartition{TopicID: k.topic, Partition: k.partition})
	}
	slices.SortFunc(f.parts, func(a, b FetchPartition) int {
		if d := strings.Compare(string(a.TopicID[:]), string(b.TopicID[:])); d != 0 {
			return d
		}
		return int(a.Partition - b.Partition)
	})
	if n := len(f.parts); n > 1 {
		r := int(s.epoch) % n
		f.parts = slices.Concat(f.parts[r:], f.parts[:r])
	}
	return f
}

// nextEpoch is the epoch after e: it wraps from MaxInt32 to 1, as Kafka's.
func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// updateSession adds the request's partitions and removes forgotten ones.
func updateSession(s *session, req *kmsg.ShareFetchRequest) {
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			s.parts[tp{t.TopicID, p.Partition}] = struct{}{}
		}
	}
	for _, t := range req.ForgottenTopicsData {
		for _, p := range t.Partitions {
			delete(s.parts, tp{t.TopicID, p})
		}
	}
}

// closeSessionLocked applies a final epoch's acks, releases the member's
// remaining records on the session's partitions and drops the session.
func (c *Coordinator) closeSessionLocked(g *group, key sessionKey, s *session, acks []ackTopic, maxType int8, onAck func([16]byte, int32, int16)) {
	released := c.ackLocked(g, key.member, acks, maxType, onAck)
	delete(c.sessions, key)
	released = c.releaseSessionLocked(g, key.member, s) || released
	if released {
		c.broadcastLocked()
	}
}

// Acquire acquires records for f on each of its partitions, at most
// f's MaxRecords in all, and records partition errors in the response.
// live is false when the session was closed or replaced meanwhile (the
// member left, was fenced, or the connection dropped): the broker should
// stop long-polling and answer.
func (c *Coordinator) Acquire(f *Fetch) (acq []Acquired, live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.sessions[f.key] != f.sess {
		return nil, false
	}
	g := c.groups[f.key.group]
	if g == nil {
		return nil, false
	}
	now := c.cfg.Now()
	params := acquireParams{
		member: f.key.member, limit: c.deliveryLimit(g), maxLocks: c.cfg.MaxRecordLocks,
		now: now, lockDuration: c.lockDuration(g),
	}
	remaining := f.max
	var touched []tp
	for _, fp := range f.parts {
		if remaining <= 0 {
			break
		}
		k := tp{fp.TopicID, fp.Partition}
		start, hw, code := c.boundsLocked(k)
		if code != 0 {
			f.entry(fp.TopicID, fp.Partition).ErrorCode = code
			continue
		}
		p := g.parts[k]
		if p == nil {
			p = c.initPartLocked(g, k, start, hw)
		}
		params.start, params.hw, params.max = start, hw, remaining
		ranges := p.acquire(params)
		if p.pending() {
			touched = append(touched, k)
		}
		if len(ranges) == 0 {
			continue
		}
		a := Acquired{TopicID: fp.TopicID, Partition: fp.Partition, First: ranges[0].first, Last: ranges[len(ranges)-1].last}
		for _, r := range ranges {
			ar := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
			ar.FirstOffset, ar.LastOffset, ar.DeliveryCount = r.first, r.last, int16(r.count)
			a.Ranges = append(a.Ranges, ar)
			remaining -= int32(r.last - r.first + 1)
		}
		acq = append(acq, a)
	}
	if err := c.flushLocked(g, touched); err != nil {
		// Nothing acquired is durable, so nothing is handed out: the
		// rollback made the records available again.
		c.log.Warn("share: persist acquisition", "group", g.id, "err", err)
		for _, a := range acq {
			f.entry(a.TopicID, a.Partition).ErrorCode = kerr.KafkaStorageError.Code
		}
		return nil, true
	}
	if len(acq) > 0 {
		c.scheduleLocked(now.Add(params.lockDuration))
	}
	return acq, true
}

// initPartLocked creates a share-partition at the group's start offset.
// The creation is written with the first acquisition, so a restart does
// not move a "latest" start past records produced in between.
func (c *Coordinator) initPartLocked(g *group, k tp, start, hw int64) *partState {
	spso := hw
	if g.earliest() {
		spso = start
	}
	p := newPartState(spso)
	p.begin()
	p.undoSPSO = -1 // changes() then reports the new SPSO as a change
	g.parts[k] = p
	return p
}

// boundsLocked resolves a partition's log bounds or an error code.
func (c *Coordinator) boundsLocked(k tp) (start, hw int64, code int16) {
	_, n, ok := c.cfg.Topics.TopicByID(k.topic)
	if !ok {
		return 0, 0, kerr.UnknownTopicID.Code
	}
	if k.partition < 0 || k.partition >= n {
		return 0, 0, kerr.UnknownTopicOrPartition.Code
	}
	start, hw, ok = c.cfg.Topics.Bounds(k.topic, k.partition)
	if !ok {
		return 0, 0, kerr.UnknownTopicOrPartition.Code
	}
	return start, hw, 0
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// validateIDs checks the group and member IDs of a fetch or acknowledge.
func validateIDs(group, member string) (int16, string) {
	switch {
	case strings.TrimSpace(group) == "":
		return kerr.InvalidRequest.Code, "GroupID is empty"
	case member == "" || len(member) > maxMemberIDLen:
		return kerr.InvalidRequest.Code, "MemberID must be 1 to 36 characters"
	}
	return 0, ""
}
