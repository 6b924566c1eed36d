package group

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// threeStable brings three dynamic members of group "g" to Stable at
// generation 1.
func threeStable(h *harness) []*client {
	h.t.Helper()
	cls := []*client{newClient("g", "m1"), newClient("g", "m2"), newClient("g", "m3")}
	for _, cl := range cls {
		cl.getID(h)
	}
	rebalance(h, cls...)
	if s := h.state("g"); s != StateStable {
		h.t.Fatalf("state %v, want Stable", s)
	}
	return cls
}

func TestJoinSyncThreeMembers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	cls := []*client{newClient("g", "m1"), newClient("g", "m2"), newClient("g", "m3")}
	for _, cl := range cls {
		cl.getID(h)
	}
	joins := make([]<-chan *kmsg.JoinGroupResponse, 3)
	for i, cl := range cls {
		joins[i] = cl.join(h)
	}
	var leaders int
	for i, cl := range cls {
		resp := cl.recvJoin(h, joins[i])
		expectCode(t, "join", resp.ErrorCode, nil)
		if resp.Generation != 1 || *resp.Protocol != "cooperative-sticky" || *resp.ProtocolType != "consumer" {
			t.Fatalf("join response %+v", resp)
		}
		if resp.LeaderID == resp.MemberID {
			leaders++
			if len(resp.Members) != 3 {
				t.Fatalf("leader got %d members, want 3", len(resp.Members))
			}
			for _, m := range resp.Members {
				if !strings.HasPrefix(string(m.ProtocolMetadata), "m") {
					t.Fatalf("member %s metadata %q", m.MemberID, m.ProtocolMetadata)
				}
			}
		} else if len(resp.Members) != 0 {
			t.Fatalf("follower got the member list")
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders", leaders)
	}
	if s := h.state("g"); s != StateCompletingRebalance {
		t.Fatalf("state %v, want CompletingRebalance", s)
	}
	// Now the full round through the shared helper, as generation 2.
	// Round two: cls[0] rejoins with new metadata first, so the others'
	// identical rejoins land in the new round rather than being answered
	// as retries of round one.
	cls[0].meta = "m1-changed"
	j0 := cls[0].join(h)
	h.waitParked("g", 1)
	roundFrom(h, cls, []<-chan *kmsg.JoinGroupResponse{j0, cls[1].join(h), cls[2].join(h)})
	if s := h.state("g"); s != StateStable {
		t.Fatalf("state %v, want Stable", s)
	}
	d := h.c.DescribeGroups(h.ctx, &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"g"}}).Groups[0]
	if d.State != "Stable" || d.Protocol != "cooperative-sticky" || len(d.Members) != 3 {
		t.Fatalf("describe %+v", d)
	}
	for _, m := range d.Members {
		if string(m.MemberAssignment) != "a:"+m.MemberID || len(m.ProtocolMetadata) == 0 {
			t.Fatalf("describe member %+v", m)
		}
	}
}

func TestMemberIDRequired(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := WithClientInfo(h.ctx, ClientInfo{ClientID: "kgo", Host: "127.0.0.1"})
	req := newClient("g", "m").joinReq()
	resp := h.c.JoinGroup(ctx, req)
	expectCode(t, "v9 first join", resp.ErrorCode, kerr.MemberIDRequired)
	if !strings.HasPrefix(resp.MemberID, "kgo-") {
		t.Fatalf("member id %q lacks the client id prefix", resp.MemberID)
	}
	// The handed-out id expires after the session timeout.
	h.advance(10 * time.Second)
	req.MemberID = resp.MemberID
	expectCode(t, "join with expired id", h.c.JoinGroup(ctx, req).ErrorCode, kerr.UnknownMemberID)

	// v3 and below join directly.
	old := newClient("g3", "m")
	old.joinV = 3
	r := old.joinNow(h)
	expectCode(t, "v3 join", r.ErrorCode, nil)
	if r.Generation != 1 || r.LeaderID != r.MemberID {
		t.Fatalf("v3 join response %+v", r)
	}
}

func TestJoinValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := []struct {
		name string
		mod  func(*kmsg.JoinGroupRequest)
		want *kerr.Error
	}{
		{"empty group id", func(r *kmsg.JoinGroupRequest) { r.Group = "" }, kerr.InvalidGroupID},
		{"session below min", func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 1000 }, kerr.InvalidSessionTimeout},
		{"session above max", func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 1 << 30 }, kerr.InvalidSessionTimeout},
		{"no protocols", func(r *kmsg.JoinGroupRequest) { r.Protocols = nil }, kerr.InconsistentGroupProtocol},
		{"unknown member of unknown group", func(r *kmsg.JoinGroupRequest) { r.MemberID = "ghost" }, kerr.UnknownMemberID},
	}
	for _, tt := range tests {
		req := newClient("v", "m").joinReq()
		tt.mod(req)
		expectCode(t, tt.name, h.c.JoinGroup(h.ctx, req).ErrorCode, tt.want)
	}
}

func TestInconsistentProtocol(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	threeStable(h)
	req := newClient("g", "x").joinReq()
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin"}}
	expectCode(t, "no common protocol", h.c.JoinGroup(h.ctx, req).ErrorCode, kerr.InconsistentGroupProtocol)
	req = newClient("g", "x").joinReq()
	req.ProtocolType = "connect"
	expectCode(t, "other protocol type", h.c.JoinGroup(h.ctx, req).ErrorCode, kerr.InconsistentGroupProtocol)
}

func TestProtocolVoting(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a, b := newClient("g", "a"), newClient("g", "b")
	a.getID(h)
	b.getID(h)
	ra := a.joinReq()
	ra.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}, {Name: "sticky"}}
	rb := b.joinReq()
	rb.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin"}, {Name: "sticky"}, {Name: "range"}}
	cha := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { cha <- h.c.JoinGroup(h.ctx, ra) }()
	respB := h.c.JoinGroup(h.ctx, rb)
	respA := <-cha
	// Candidates are range and sticky; a votes range, b votes sticky; the
	// tie goes to the name sorting first.
	if *respA.Protocol != "range" || *respB.Protocol != "range" {
		t.Fatalf("protocol %q/%q, want range", *respA.Protocol, *respB.Protocol)
	}
}

func TestLeaveTriggersRebalance(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	cls := threeStable(h)
	expectCode(t, "leave", cls[2].leave(h), nil)
	if s := h.state("g"); s != StatePreparingRebalance {
		t.Fatalf("state %v after leave", s)
	}
	for _, cl := range cls[:2] {
		expectCode(t, "heartbeat during rebalance", cl.heartbeat(h), kerr.RebalanceInProgress)
	}
	expectCode(t, "heartbeat of the leaver", cls[2].heartbeat(h), kerr.UnknownMemberID)
	rebalance(h, cls[:2]...)
	if cls[0].gen != 2 {
		t.Fatalf("generation %d, want 2", cls[0].gen)
	}
	expectCode(t, "second leave", cls[2].leave(h), kerr.UnknownMemberID)

	// v0-v2 report the member error at the top level.
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version, req.Group, req.MemberID = 1, "g", "ghost"
	expectCode(t, "v1 leave", h.c.LeaveGroup(h.ctx, req).ErrorCode, kerr.UnknownMemberID)
}

func TestSessionTimeoutEviction(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	cls := threeStable(h) // session timeout 10s
	for range 2 {
		h.advance(4 * time.Second)
		for _, cl := range cls[:2] {
			expectCode(t, "heartbeat", cl.heartbeat(h), nil)
		}
	}
	h.advance(4 * time.Second) // 12s since the silent member's last sign of life
	if s := h.state("g"); s != StatePreparingRebalance {
		t.Fatalf("state %v after the silent member's session expired", s)
	}
	expectCode(t, "evicted heartbeat", cls[2].heartbeat(h), kerr.UnknownMemberID)
	rebalance(h, cls[:2]...)
}

func TestRebalanceTimeoutRemovesStragglers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	cls := threeStable(h)
	cls[0].meta = "new"
	ch := cls[0].join(h) // metadata change starts a round
	h.waitParked("g", 1)
	expectCode(t, "heartbeat", cls[1].heartbeat(h), kerr.RebalanceInProgress)
	h.advance(20 * time.Second) // rebalance timeout; sessions are kept alive by nothing
	resp := cls[0].recvJoin(h, ch)
	expectCode(t, "join after deadline", resp.ErrorCode, nil)
	if resp.Generation != 2 || len(resp.Members) != 1 {
		t.Fatalf("join response %+v, want generation 2 alone", resp)
	}
	expectCode(t, "removed member", cls[1].heartbeat(h), kerr.UnknownMemberID)
}

func TestIllegalGeneration(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	cls := threeStable(h)
	stale := *cls[1]
	stale.gen--
	expectCode(t, "heartbeat", stale.heartbeat(h), kerr.IllegalGeneration)
	expectCode(t, "sync", stale.recvSync(h, stale.sync(h, nil)).ErrorCode, kerr.IllegalGeneration)
	resp := h.c.OffsetCommit(h.ctx, commitReq(&stale, "t", 0, 5))
	expectCode(t, "commit", resp.Topics[0].Partitions[0].ErrorCode, kerr.IllegalGeneration)
	unknown := *cls[1]
	unknown.id = "nobody"
	expectCode(t, "unknown member heartbeat", unknown.heartbeat(h), kerr.UnknownMemberID)
}

func TestFollowerRejoinWhileStable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	cls := threeStable(h)
	var follower *client
	for _, cl := range cls {
		if resp := cl.heartbeat(h); resp == 0 && !h.isLeader("g", cl.id) {
			follower = cl
			break
		}
	}
	// Unchanged metadata from a follower: current generation, no round.
	resp := follower.joinNow(h)
	expectCode(t, "rejoin", resp.ErrorCode, nil)
	if resp.Generation != 1 || h.state("g") != StateStable {
		t.Fatalf("follower rejoin started a rebalance: %+v state %v", resp, h.state("g"))
	}
}

// TestCooperativeTwoRounds follows a cooperative-sticky client's pattern:
// a new member triggers round one; a member that gave up partitions rejoins
// a Stable group with new metadata, which must start and finish round two.
func TestCooperativeTwoRounds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a, b := newClient("g", "a"), newClient("g", "b")
	a.getID(h)
	b.getID(h)
	rebalance(h, a, b)
	c := newClient("g", "c")
	c.getID(h)
	ch := c.join(h)
	h.waitParked("g", 1)
	expectCode(t, "heartbeat a", a.heartbeat(h), kerr.RebalanceInProgress)
	joinsAB := []<-chan *kmsg.JoinGroupResponse{a.join(h), b.join(h)}
	leader := roundFrom(h, []*client{c, a, b}, append([]<-chan *kmsg.JoinGroupResponse{ch}, joinsAB...))
	if h.state("g") != StateStable || a.gen != 2 {
		t.Fatalf("round one: state %v gen %d", h.state("g"), a.gen)
	}
	// Round two: a revoked partitions, its owned set (metadata) changed.
	_ = leader
	a.meta = "a-owned-less"
	ch = a.join(h)
	h.waitParked("g", 1)
	if s := h.state("g"); s != StatePreparingRebalance {
		t.Fatalf("rejoin with new metadata left the group %v", s)
	}
	expectCode(t, "heartbeat b", b.heartbeat(h), kerr.RebalanceInProgress)
	roundFrom(h, []*client{a, b, c}, []<-chan *kmsg.JoinGroupResponse{ch, b.join(h), c.join(h)})
	if h.state("g") != StateStable || b.gen != 3 {
		t.Fatalf("round two: state %v gen %d", h.state("g"), b.gen)
	}
}

// roundFrom finishes a round whose joins are already in flight.
func roundFrom(h *harness, cls []*client, joins []<-chan *kmsg.JoinGroupResponse) *client {
	h.t.Helper()
	var leader *client
	var plan []kmsg.SyncGroupRequestGroupAssignment
	for i, cl := range cls {
		resp := cl.recvJoin(h, joins[i])
		expectCode(h.t, "join", resp.ErrorCode, nil)
		if resp.LeaderID == resp.MemberID {
			leader = cl
			for _, m := range resp.Members {
				plan = append(plan, kmsg.SyncGroupRequestGroupAssignment{MemberID: m.MemberID, MemberAssignment: []byte("a:" + m.MemberID)})
			}
		}
	}
	syncs := make([]<-chan *kmsg.SyncGroupResponse, len(cls))
	for i, cl := range cls {
		var p []kmsg.SyncGroupRequestGroupAssignment
		if cl == leader {
			p = plan
		}
		syncs[i] = cl.sync(h, p)
	}
	for i, cl := range cls {
		expectCode(h.t, "sync", cl.recvSync(h, syncs[i]).ErrorCode, nil)
		if cl.assignment != "a:"+cl.id {
			h.t.Fatalf("assignment %q for %s", cl.assignment, cl.id)
		}
	}
	return leader
}

func (h *harness) isLeader(group, id string) bool {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.groups[group].leader == id
}

func TestSyncDeadlineRemovesSilentMembers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a, b := newClient("g", "a"), newClient("g", "b")
	// Sessions outlast the 20s rebalance timeout, so only the sync
	// deadline can remove the silent member.
	a.session, b.session = 30_000, 30_000
	a.getID(h)
	b.getID(h)
	ja, jb := a.join(h), b.join(h)
	ra, rb := a.recvJoin(h, ja), b.recvJoin(h, jb)
	leader, other := a, b
	if rb.LeaderID == rb.MemberID {
		leader, other = b, a
	}
	_ = ra
	// Only the leader syncs; the other never does.
	plan := []kmsg.SyncGroupRequestGroupAssignment{{MemberID: a.id, MemberAssignment: []byte("x")}, {MemberID: b.id, MemberAssignment: []byte("y")}}
	expectCode(t, "leader sync", leader.recvSync(h, leader.sync(h, plan)).ErrorCode, nil)
	h.advance(19 * time.Second)
	expectCode(t, "leader heartbeat", leader.heartbeat(h), nil)
	h.advance(2 * time.Second)
	if s := h.state("g"); s != StatePreparingRebalance {
		t.Fatalf("state %v after the sync deadline", s)
	}
	expectCode(t, "silent member", other.heartbeat(h), kerr.UnknownMemberID)
}

func TestAbandonedJoinOnContextCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a, b, c := newClient("g", "a"), newClient("g", "b"), newClient("g", "c")
	a.getID(h)
	b.getID(h)
	c.getID(h) // c's outstanding id keeps the round open
	ja := a.join(h)
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan *kmsg.JoinGroupResponse, 1)
	req := b.joinReq()
	go func() { done <- h.c.JoinGroup(ctx, req) }()
	h.waitParked("g", 2)
	cancel()
	select {
	case resp := <-done:
		if resp != nil {
			t.Fatalf("abandoned join returned %+v, want nil", resp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled join did not return")
	}
	// b was new, so it is removed at once; the round completes with a
	// and c.
	h.waitParked("g", 1)
	jc := c.join(h)
	ra, rc := a.recvJoin(h, ja), c.recvJoin(h, jc)
	expectCode(t, "remaining join", ra.ErrorCode, nil)
	expectCode(t, "late join", rc.ErrorCode, nil)
	members := ra.Members
	if ra.LeaderID != ra.MemberID {
		members = rc.Members
	}
	if len(members) != 2 || ra.Generation != 1 {
		t.Fatalf("join responses %+v %+v", ra, rc)
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	a, b := newClient("g", "a"), newClient("g", "b")
	a.joinV, b.joinV = 3, 3 // no MEMBER_ID_REQUIRED, so the delay is visible
	ja := a.join(h)
	h.waitParked("g", 1)
	jb := b.join(h)
	h.waitParked("g", 2)
	h.advance(3 * time.Second) // b arrived during the delay: extended
	if s := h.state("g"); s != StatePreparingRebalance {
		t.Fatalf("state %v, want the delay extended", s)
	}
	h.advance(3 * time.Second)
	ra, rb := a.recvJoin(h, ja), b.recvJoin(h, jb)
	if ra.Generation != 1 || rb.Generation != 1 {
		t.Fatalf("generations %d/%d", ra.Generation, rb.Generation)
	}
}

func TestCloseReleasesWaitersAndGoroutine(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := newClient("g", "a")
	a.joinV = 3
	a.session = 6000
	// Two members so the first join parks waiting for the second.
	b := newClient("g", "b")
	b.getID(h)
	ja := a.join(h)
	h.waitParked("g", 1)
	if err := h.c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	resp := a.recvJoin(h, ja)
	expectCode(t, "parked join after Close", resp.ErrorCode, kerr.CoordinatorNotAvailable)
	select {
	case <-h.c.done:
	default:
		t.Fatal("timer goroutine still running after Close")
	}
	if err := h.c.Close(); err != ErrClosed {
		t.Fatalf("second Close: %v", err)
	}
	expectCode(t, "heartbeat after Close", a.heartbeat(h), kerr.CoordinatorNotAvailable)
}

// TestRealTimers runs a session expiry on the real clock, through the timer
// goroutine rather than the harness's synchronous advance.
func TestRealTimers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {
		c.Now = nil
		c.MinSessionTimeout = 10 * time.Millisecond
	})
	a := newClient("g", "a")
	a.joinV, a.session = 3, 50
	r := a.joinNow(h)
	expectCode(t, "join", r.ErrorCode, nil)
	expectCode(t, "sync", a.recvSync(h, a.sync(h, []kmsg.SyncGroupRequestGroupAssignment{{MemberID: a.id}})).ErrorCode, nil)
	waitFor(t, 5*time.Second, "session expiry to empty the group", func() bool { return h.state("g") == StateEmpty })
}
