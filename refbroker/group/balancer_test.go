package group

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// These tests drive the coordinator with kgo's own balancers, so the
// member metadata, the leader's plans and the cooperative two-round
// pattern are exactly what a kgo consumer produces.

const balancedTopic, balancedPartitions = "t", 6

// kgoMember is a simulated kgo group consumer of balancedTopic.
type kgoMember struct {
	*client
	bal   kgo.GroupBalancer
	owned map[string][]int32
}

func newKgoMember(group string, bal kgo.GroupBalancer) *kgoMember {
	return &kgoMember{client: newClient(group, ""), bal: bal, owned: map[string][]int32{}}
}

// prepare sets the join metadata from what the member owns, as kgo does
// before every join.
func (m *kgoMember) prepare() {
	meta := m.bal.JoinGroupMetadata([]string{balancedTopic}, m.owned, m.gen)
	m.protocols = []kmsg.JoinGroupRequestProtocol{{Name: m.bal.ProtocolName(), Metadata: meta}}
}

func (m *kgoMember) startJoin(h *harness) <-chan *kmsg.JoinGroupResponse {
	m.prepare()
	return m.join(h)
}

// kgoRound completes a round whose joins are in flight: the leader balances
// with the kgo balancer and everyone syncs. It returns, per member, whether
// the member lost partitions it owned (a cooperative member must then
// rejoin).
func kgoRound(h *harness, ms []*kgoMember, joins []<-chan *kmsg.JoinGroupResponse) []bool {
	h.t.Helper()
	var plan []kmsg.SyncGroupRequestGroupAssignment
	leader := -1
	for i, m := range ms {
		resp := m.recvJoin(h, joins[i])
		expectCode(h.t, "join", resp.ErrorCode, nil)
		if resp.LeaderID != resp.MemberID {
			continue
		}
		leader = i
		members := slices.Clone(resp.Members)
		slices.SortFunc(members, func(a, b kmsg.JoinGroupResponseMember) int {
			return compareStrings(a.MemberID, b.MemberID)
		})
		mb, _, err := m.bal.MemberBalancer(members)
		if err != nil {
			h.t.Fatalf("member balancer: %v", err)
		}
		topics := map[string]int32{balancedTopic: balancedPartitions}
		var into kgo.IntoSyncAssignment
		if me, ok := mb.(kgo.GroupMemberBalancerOrError); ok { // as kgo's balanceGroup does
			if into, err = me.BalanceOrError(topics); err != nil {
				h.t.Fatalf("balance: %v", err)
			}
		} else {
			into = mb.Balance(topics)
		}
		plan = into.IntoSyncAssignment()
	}
	if leader < 0 {
		h.t.Fatal("no leader")
	}
	syncs := make([]<-chan *kmsg.SyncGroupResponse, len(ms))
	for i, m := range ms {
		var p []kmsg.SyncGroupRequestGroupAssignment
		if i == leader {
			p = plan
		}
		syncs[i] = m.sync(h, p)
	}
	lost := make([]bool, len(ms))
	for i, m := range ms {
		resp := m.recvSync(h, syncs[i])
		expectCode(h.t, "sync", resp.ErrorCode, nil)
		assigned, err := m.bal.ParseSyncAssignment(resp.MemberAssignment)
		if err != nil {
			h.t.Fatalf("parse assignment: %v", err)
		}
		for _, p := range m.owned[balancedTopic] {
			if !slices.Contains(assigned[balancedTopic], p) {
				lost[i] = true
			}
		}
		m.owned = assigned
	}
	return lost
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkCoverage asserts every partition is owned exactly once and the
// split is even.
func checkCoverage(t *testing.T, ms []*kgoMember) {
	t.Helper()
	seen := map[int32]int{}
	for _, m := range ms {
		if n := len(m.owned[balancedTopic]); n != balancedPartitions/len(ms) {
			t.Fatalf("member %s owns %v: uneven", m.id, m.owned)
		}
		for _, p := range m.owned[balancedTopic] {
			seen[p]++
		}
	}
	for p := range int32(balancedPartitions) {
		if seen[p] != 1 {
			t.Fatalf("partition %d owned %d times", p, seen[p])
		}
	}
}

// growGroup starts with a and b stable, then c joins; a and b learn of the
// rebalance from their heartbeats and rejoin. It returns the round's
// "lost partitions" flags for a, b, c.
func growGroup(h *harness, bal func() kgo.GroupBalancer) ([]*kgoMember, []bool) {
	h.t.Helper()
	a, b, c := newKgoMember("g", bal()), newKgoMember("g", bal()), newKgoMember("g", bal())
	a.getID(h)
	b.getID(h)
	kgoRound(h, []*kgoMember{a, b}, []<-chan *kmsg.JoinGroupResponse{a.startJoin(h), b.startJoin(h)})
	c.getID(h)
	jc := c.startJoin(h)
	h.waitParked("g", 1)
	expectCode(h.t, "heartbeat a", a.heartbeat(h), kerr.RebalanceInProgress)
	expectCode(h.t, "heartbeat b", b.heartbeat(h), kerr.RebalanceInProgress)
	ms := []*kgoMember{c, a, b}
	return ms, kgoRound(h, ms, []<-chan *kmsg.JoinGroupResponse{jc, a.startJoin(h), b.startJoin(h)})
}

func TestEagerRangeGrowth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ms, _ := growGroup(h, kgo.RangeBalancer)
	if h.state("g") != StateStable {
		t.Fatalf("state %v", h.state("g"))
	}
	checkCoverage(t, ms) // eager: one round moves everything
}

func TestCooperativeStickyGrowth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ms, lost := growGroup(h, kgo.CooperativeStickyBalancer)
	// Round one only revokes: whoever lost partitions rejoins the Stable
	// group with its smaller owned set, which must start round two.
	var rejoiners []*kgoMember
	var joins []<-chan *kmsg.JoinGroupResponse
	for i, m := range ms {
		if lost[i] {
			rejoiners = append(rejoiners, m)
			joins = append(joins, m.startJoin(h))
		}
	}
	if len(rejoiners) == 0 {
		t.Fatal("cooperative round one revoked nothing; expected a second round")
	}
	h.waitParked("g", len(rejoiners))
	if s := h.state("g"); s != StatePreparingRebalance {
		t.Fatalf("rejoin after revocation left the group %v", s)
	}
	all := rejoiners
	for _, m := range ms {
		if !slices.Contains(rejoiners, m) {
			expectCode(t, "heartbeat", m.heartbeat(h), kerr.RebalanceInProgress)
			all = append(all, m)
			joins = append(joins, m.startJoin(h))
		}
	}
	for i, l := range kgoRound(h, all, joins) {
		if l {
			t.Fatalf("member %s lost partitions in round two", all[i].id)
		}
	}
	if h.state("g") != StateStable {
		t.Fatalf("state %v after round two", h.state("g"))
	}
	checkCoverage(t, ms)
}
