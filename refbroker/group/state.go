package group

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is the state of a classic group; see docs/groups.md for the diagram.
type State int8

// The group states, named as Kafka names them in DescribeGroups/ListGroups.
const (
	// StateEmpty: no members; offsets may exist.
	StateEmpty State = iota
	// StatePreparingRebalance: waiting for members to (re)join.
	StatePreparingRebalance
	// StateCompletingRebalance: joins answered, waiting for the leader's
	// SyncGroup with the assignment.
	StateCompletingRebalance
	// StateStable: assignment distributed; members heartbeat.
	StateStable
	// StateDead: the group does not exist (never created, or deleted).
	StateDead
)

// String returns the Kafka wire name of the state.
func (s State) String() string {
	switch s {
	case StateEmpty:
		return "Empty"
	case StatePreparingRebalance:
		return "PreparingRebalance"
	case StateCompletingRebalance:
		return "CompletingRebalance"
	case StateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// committed is one committed offset.
type committed struct {
	offset      int64
	leaderEpoch int32
	metadata    *string
}

// joinWaiter parks one JoinGroup caller until its round completes. The
// channel has room for exactly one response, so delivering never blocks the
// coordinator, even when the caller has already gone away.
type joinWaiter struct {
	req *kmsg.JoinGroupRequest
	ch  chan *kmsg.JoinGroupResponse
}

func newJoinWaiter(req *kmsg.JoinGroupRequest) *joinWaiter {
	return &joinWaiter{req: req, ch: make(chan *kmsg.JoinGroupResponse, 1)}
}

func (w *joinWaiter) fail(code int16) {
	resp := w.req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = code
	resp.MemberID = w.req.MemberID
	w.ch <- resp
}

// syncWaiter parks one SyncGroup caller; see joinWaiter.
type syncWaiter struct {
	req *kmsg.SyncGroupRequest
	ch  chan *kmsg.SyncGroupResponse
}

func newSyncWaiter(req *kmsg.SyncGroupRequest) *syncWaiter {
	return &syncWaiter{req: req, ch: make(chan *kmsg.SyncGroupResponse, 1)}
}

func (w *syncWaiter) fail(code int16) {
	resp := w.req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode = code
	w.ch <- resp
}

// member is one joined member of a group.
type member struct {
	id         string
	instanceID *string
	clientID   string
	clientHost string
	seq        uint64 // join order; the oldest member becomes leader

	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte

	join *joinWaiter // non-nil while a JoinGroup is parked
	sync *syncWaiter // non-nil while a SyncGroup is parked

	// sessionDeadline is when the member is evicted unless it heartbeats;
	// it is not enforced while the member is parked in join or sync,
	// because the round's own deadline bounds that wait (Kafka's
	// shouldKeepAlive).
	sessionDeadline time.Time

	// isNew is true until the member receives its first JoinGroup
	// response; a new member whose connection closes while joining is
	// removed at once rather than holding up the round.
	isNew bool
}

// update copies the parts of a JoinGroup that a member may change on rejoin.
func (m *member) update(req *kmsg.JoinGroupRequest, ci ClientInfo) {
	m.sessionTimeout = millis(req.SessionTimeoutMillis)
	m.rebalanceTimeout = m.sessionTimeout
	if req.Version >= 1 && req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = millis(req.RebalanceTimeoutMillis)
	}
	m.protocolType = strings.Clone(req.ProtocolType)
	m.protocols = cloneProtocols(req.Protocols)
	if ci.ClientID != "" || ci.Host != "" {
		m.clientID, m.clientHost = strings.Clone(ci.ClientID), strings.Clone(ci.Host)
	}
}

// matches reports whether protos is exactly the member's current protocol
// list, names, order and metadata.
func (m *member) matches(protos []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(m.protocols, protos, func(a, b kmsg.JoinGroupRequestProtocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) supports(protocol string) bool {
	return slices.ContainsFunc(m.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == protocol })
}

// group is the state of one classic group. Every field is guarded by
// Coordinator.mu.
type group struct {
	id           string
	state        State
	protocolType string
	protocol     string // selected protocol; "" outside a generation
	generation   int32
	leader       string
	nextSeq      uint64

	members map[string]*member
	// pending holds member ids handed out with MEMBER_ID_REQUIRED and not
	// yet used, with their expiry. While any is pending a rebalance does
	// not complete early, so members started together land in one round.
	pending map[string]time.Time
	// static maps group.instance.id to the current member id.
	static map[string]string
	// pendingSync holds members that got this generation's JoinGroup
	// response but have not sent SyncGroup; they are removed at
	// syncDeadline.
	pendingSync  map[string]struct{}
	syncDeadline time.Time

	joinDeadline time.Time // PreparingRebalance only
	// delayed is true while an initial rebalance delay runs; delayCap
	// bounds its extensions and newJoiner records a join during a delay.
	delayed   bool
	delayCap  time.Time
	newJoiner bool

	offsets map[string]map[int32]committed
}

func newGroup(id string) *group {
	return &group{
		id:      id,
		state:   StateEmpty,
		members: make(map[string]*member),
		pending: make(map[string]time.Time),
		static:  make(map[string]string),
		offsets: make(map[string]map[int32]committed),
	}
}

// sortedMembers returns members in join order, which makes leader choice,
// responses and logs deterministic.
func (g *group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return ms
}

// fenced reports whether instanceID belongs to a different member id than
// memberID (KIP-345): the caller is a stale incarnation of a static member.
func (g *group) fenced(instanceID *string, memberID string) bool {
	if instanceID == nil {
		return false
	}
	cur, ok := g.static[*instanceID]
	return ok && cur != memberID
}

// supportsProtocols reports whether a member with this protocol type and
// list may join: an empty group accepts anything non-empty; otherwise the
// type must match and at least one protocol must be supported by every
// current member.
func (g *group) supportsProtocols(protocolType string, protos []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protos {
		all := true
		for _, m := range g.members {
			if !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol for the next generation as Kafka does:
// among protocols every member supports, each member votes for the first in
// its own preference order and the most votes win. Ties go to the name that
// sorts first so the choice is deterministic. It returns "" when no
// protocol is common, which supportsProtocols prevents.
func (g *group) selectProtocol() string {
	ms := g.sortedMembers()
	if len(ms) == 0 {
		return ""
	}
	candidate := func(name string) bool {
		for _, m := range ms {
			if !m.supports(name) {
				return false
			}
		}
		return true
	}
	votes := make(map[string]int)
	for _, m := range ms {
		for _, p := range m.protocols {
			if candidate(p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", 0
	for name, v := range votes {
		if v > bestVotes || v == bestVotes && name < best {
			best, bestVotes = name, v
		}
	}
	return best
}

// maxRebalanceTimeout is the longest rebalance timeout among members; a
// round waits that long for stragglers.
func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// allJoined reports whether every member is parked in JoinGroup and no
// handed-out member id is still unused.
func (g *group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.join == nil {
			return false
		}
	}
	return true
}

// joinMembers is the member list the leader receives: every member with its
// metadata for the selected protocol.
func (g *group) joinMembers() []kmsg.JoinGroupResponseMember {
	ms := g.sortedMembers()
	out := make([]kmsg.JoinGroupResponseMember, 0, len(ms))
	for _, m := range ms {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadataFor(g.protocol)
		out = append(out, jm)
	}
	return out
}

// fillJoin fills a successful JoinGroup response for memberID at the
// current generation.
func (g *group) fillJoin(resp *kmsg.JoinGroupResponse, memberID string) {
	resp.ErrorCode = 0
	resp.Generation = g.generation
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = memberID
	if memberID == g.leader {
		resp.Members = g.joinMembers()
	}
}

// fillSync fills a successful SyncGroup response with m's assignment.
func (g *group) fillSync(resp *kmsg.SyncGroupResponse, m *member) {
	resp.ErrorCode = 0
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.MemberAssignment = m.assignment
}

// hasOffsets reports whether any offset is committed for the group.
func (g *group) hasOffsets() bool { return len(g.offsets) > 0 }

// newMemberID returns prefix-<uuid>, Kafka's member id format. kgo relies
// on static member ids starting with "<instance id>-" (see its KIP-345
// leader workaround), so the prefix is the instance id when there is one.
func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return prefix + "-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func cloneProtocols(in []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(in))
	for i, p := range in {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: strings.Clone(p.Name), Metadata: bytes.Clone(p.Metadata)}
	}
	return out
}

func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
