package group

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func staticStable(h *harness) []*client {
	h.t.Helper()
	cls := []*client{newStatic("g", "i1", "m1"), newStatic("g", "i2", "m2"), newStatic("g", "i3", "m3")}
	// Static members skip MEMBER_ID_REQUIRED and join straight away.
	rebalance(h, cls...)
	for _, cl := range cls {
		if !strings.HasPrefix(cl.id, *cl.instance+"-") {
			h.t.Fatalf("static member id %q lacks the instance prefix", cl.id)
		}
	}
	return cls
}

func TestStaticRestartWithoutRebalance(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDelay)
	cls := staticStable(h)
	var follower *client
	for _, cl := range cls {
		if !h.isLeader("g", cl.id) {
			follower = cl
			break
		}
	}
	old := *follower
	restarted := newStatic("g", *follower.instance, follower.meta)
	resp := restarted.joinNow(h)
	expectCode(t, "static rejoin", resp.ErrorCode, nil)
	if resp.MemberID == old.id || resp.Generation != old.gen || resp.LeaderID == resp.MemberID {
		t.Fatalf("static rejoin response %+v (old id %s gen %d)", resp, old.id, old.gen)
	}
	if s := h.state("g"); s != StateStable {
		t.Fatalf("static rejoin caused a rebalance: state %v", s)
	}
	sync := restarted.recvSync(h, restarted.sync(h, nil))
	expectCode(t, "sync", sync.ErrorCode, nil)
	if restarted.assignment != "a:"+old.id {
		t.Fatalf("restarted member got %q, want its old assignment a:%s", restarted.assignment, old.id)
	}
	expectCode(t, "old incarnation heartbeat", old.heartbeat(h), kerr.FencedInstanceID)
	expectCode(t, "old incarnation commit", commitCode(h, &old, "t", 0, 1), kerr.FencedInstanceID)
	for _, cl := range cls {
		if cl != follower {
			expectCode(t, "others keep going", cl.heartbeat(h), nil)
		}
	}
	expectCode(t, "new incarnation heartbeat", restarted.heartbeat(h), nil)
}

func TestStaticLeaderRestart(t *testing.T) {
	t.Parallel()
	for _, v := range []int16{8, 9} {
		h := newHarness(t, withDelay)
		cls := staticStable(h)
		var leader *client
		for _, cl := range cls {
			if h.isLeader("g", cl.id) {
				leader = cl
			}
		}
		restarted := newStatic("g", *leader.instance, leader.meta)
		restarted.joinV = v
		resp := restarted.joinNow(h)
		expectCode(t, "leader rejoin", resp.ErrorCode, nil)
		if v >= 9 {
			// KIP-814: told it leads, with the members, but to skip assigning.
			if !resp.SkipAssignment || resp.LeaderID != resp.MemberID || len(resp.Members) != 3 {
				t.Fatalf("v9 leader rejoin %+v", resp)
			}
		} else if resp.LeaderID != leader.id || len(resp.Members) != 0 {
			t.Fatalf("v8 leader rejoin should name the old leader id %s: %+v", leader.id, resp)
		}
		if h.state("g") != StateStable {
			t.Fatalf("v%d: leader restart rebalanced", v)
		}
		expectCode(t, "sync", restarted.recvSync(h, restarted.sync(h, nil)).ErrorCode, nil)
		if restarted.assignment != "a:"+leader.id {
			t.Fatalf("restarted leader got %q", restarted.assignment)
		}
	}
}

func TestStaticProtocolChangeRebalances(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDelay)
	cls := staticStable(h)
	// Everyone prefers cooperative-sticky; if the restarted member only
	// speaks range, the selected protocol must change: rebalance.
	restarted := newStatic("g", *cls[0].instance, "m1")
	req := restarted.joinReq()
	req.Protocols = req.Protocols[1:]
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { ch <- h.c.JoinGroup(h.ctx, req) }()
	h.waitParked("g", 1)
	if s := h.state("g"); s != StatePreparingRebalance {
		t.Fatalf("state %v, want a rebalance", s)
	}
	joins := []<-chan *kmsg.JoinGroupResponse{cls[1].join(h), cls[2].join(h)}
	resp := <-ch
	expectCode(t, "rejoin", resp.ErrorCode, nil)
	if *resp.Protocol != "range" || resp.Generation != 2 {
		t.Fatalf("response %+v", resp)
	}
	for i, j := range joins {
		expectCode(t, "join", cls[i+1].recvJoin(h, j).ErrorCode, nil)
	}
}

func TestDuplicateInstanceFenced(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDelay)
	a := newStatic("g", "dup", "m")
	b := newStatic("g", "other", "m")
	c := newStatic("g", "third", "m")
	rebalance(h, a, b, c)

	// A second process with the same instance id and a stale member id.
	stale := newStatic("g", "dup", "m")
	stale.id = "dup-stale"
	stale.gen = a.gen
	expectCode(t, "stale join", stale.joinNow(h).ErrorCode, kerr.FencedInstanceID)
	expectCode(t, "stale heartbeat", stale.heartbeat(h), kerr.FencedInstanceID)
	expectCode(t, "stale sync", stale.recvSync(h, stale.sync(h, nil)).ErrorCode, kerr.FencedInstanceID)

	// A duplicate without member id takes over during a rebalance: the
	// original's parked join is fenced, the duplicate joins the round.
	b.meta = "changed"
	jb := b.join(h)
	h.waitParked("g", 1)
	ja := a.join(h)
	h.waitParked("g", 2)
	dup := newStatic("g", "dup", "m")
	jd := dup.join(h)
	expectCode(t, "fenced parked join", a.recvJoin(h, ja).ErrorCode, kerr.FencedInstanceID)
	jc := c.join(h) // the last member rejoins: the round completes
	expectCode(t, "c join", c.recvJoin(h, jc).ErrorCode, nil)
	expectCode(t, "duplicate join", dup.recvJoin(h, jd).ErrorCode, nil)
	expectCode(t, "b join", b.recvJoin(h, jb).ErrorCode, nil)
	if dup.id == a.id || dup.gen != a.gen+1 {
		t.Fatalf("duplicate id %s gen %d (original %s gen %d)", dup.id, dup.gen, a.id, a.gen)
	}
	expectCode(t, "original heartbeat", a.heartbeat(h), kerr.FencedInstanceID)
}

func TestStaticLeaveByInstanceID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDelay)
	cls := staticStable(h)
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 4
	req.Group = "g"
	req.Members = []kmsg.LeaveGroupRequestMember{
		{InstanceID: cls[0].instance},
		{MemberID: "wrong", InstanceID: cls[1].instance},
		{InstanceID: kmsg.StringPtr("unknown")},
	}
	resp := h.c.LeaveGroup(h.ctx, req)
	expectCode(t, "leave by instance", resp.Members[0].ErrorCode, nil)
	expectCode(t, "leave with wrong member id", resp.Members[1].ErrorCode, kerr.FencedInstanceID)
	expectCode(t, "unknown instance", resp.Members[2].ErrorCode, kerr.UnknownMemberID)
	if s := h.state("g"); s != StatePreparingRebalance {
		t.Fatalf("state %v", s)
	}
}

func TestDescribeGroupsMembers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDelay)
	h.ctx = WithClientInfo(h.ctx, ClientInfo{ClientID: "bench-consumer", Host: "/127.0.0.1"})
	cls := staticStable(h)
	tests := []struct {
		version      int16
		wantInstance bool
	}{
		{3, false}, // instance ids arrived in v4
		{4, true},
		{6, true},
	}
	for _, tt := range tests {
		req := &kmsg.DescribeGroupsRequest{Version: tt.version, Groups: []string{"g"}, IncludeAuthorizedOperations: true}
		d := h.c.DescribeGroups(h.ctx, req).Groups[0]
		if d.State != "Stable" || d.ProtocolType != "consumer" || len(d.Members) != len(cls) || d.AuthorizedOperations != authorizedGroupOps {
			t.Fatalf("v%d describe %+v", tt.version, d)
		}
		for _, m := range d.Members {
			if m.ClientID != "bench-consumer" || m.ClientHost != "/127.0.0.1" || m.InstanceID == nil {
				t.Fatalf("v%d member %+v", tt.version, m)
			}
		}
		// Encoding drops fields the version lacks; the response must
		// still round-trip through kmsg at that version.
		var back kmsg.DescribeGroupsResponse
		back.Version = tt.version
		if err := back.ReadFrom(d2bytes(h, tt.version, h.c.DescribeGroups(h.ctx, req))); err != nil {
			t.Fatalf("v%d round trip: %v", tt.version, err)
		}
		if got := back.Groups[0].Members[0].InstanceID != nil; got != tt.wantInstance {
			t.Fatalf("v%d instance id on the wire: %v", tt.version, got)
		}
	}
}

func d2bytes(h *harness, version int16, resp *kmsg.DescribeGroupsResponse) []byte {
	h.t.Helper()
	if resp.Version != version {
		h.t.Fatalf("response version %d, want %d", resp.Version, version)
	}
	return resp.AppendTo(nil)
}
