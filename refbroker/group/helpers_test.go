package group

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeClock is a manually advanced clock; time only moves in Advance.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// harness is a coordinator on a fake clock.
type harness struct {
	t     *testing.T
	c     *Coordinator
	clock *fakeClock
	ctx   context.Context
}

// newHarness starts a coordinator with a fake clock and a discarded log;
// mod may adjust the config. It is closed at test cleanup.
func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	cfg := Config{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &harness{t: t, c: c, clock: clock, ctx: context.Background()}
}

// advance moves the fake clock and applies every expiry now due,
// synchronously, so the test observes the result without waiting.
func (h *harness) advance(d time.Duration) {
	h.clock.Advance(d)
	h.c.mu.Lock()
	h.c.expireLocked(h.c.cfg.Now())
	h.c.mu.Unlock()
}

func (h *harness) state(group string) State {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if g := h.c.groups[group]; g != nil {
		return g.state
	}
	return StateDead
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

// waitParked waits until n members of group are parked in JoinGroup.
func (h *harness) waitParked(group string, n int) {
	h.t.Helper()
	waitFor(h.t, 5*time.Second, fmt.Sprintf("%d parked joins in %s", n, group), func() bool {
		h.c.mu.Lock()
		defer h.c.mu.Unlock()
		g := h.c.groups[group]
		if g == nil {
			return false
		}
		parked := 0
		for _, m := range g.members {
			if m.join != nil {
				parked++
			}
		}
		return parked == n
	})
}

// client is one simulated group member speaking the given versions.
type client struct {
	group      string
	id         string
	instance   *string
	gen        int32
	meta       string // protocol metadata
	session    int32  // ms
	joinV      int16
	assignment string
	protocol   string // chosen protocol from the last successful join
	// protocols, when set, replaces the default protocol list (two
	// protocols sharing meta).
	protocols []kmsg.JoinGroupRequestProtocol
}

func newClient(group, meta string) *client {
	return &client{group: group, meta: meta, session: 10_000, joinV: 9}
}

func newStatic(group, instance, meta string) *client {
	cl := newClient(group, meta)
	cl.instance = &instance
	return cl
}

func (cl *client) joinReq() *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = cl.joinV
	req.Group = cl.group
	req.SessionTimeoutMillis = cl.session
	req.RebalanceTimeoutMillis = 20_000
	req.MemberID = cl.id
	req.InstanceID = cl.instance
	req.ProtocolType = "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{
		{Name: "cooperative-sticky", Metadata: []byte(cl.meta)},
		{Name: "range", Metadata: []byte(cl.meta)},
	}
	if cl.protocols != nil {
		req.Protocols = cl.protocols
	}
	return req
}

// join sends one JoinGroup and returns its (possibly blocking) answer on a
// channel; on success it records the member id and generation.
func (cl *client) join(h *harness) <-chan *kmsg.JoinGroupResponse {
	out := make(chan *kmsg.JoinGroupResponse, 1)
	req := cl.joinReq()
	go func() { out <- h.c.JoinGroup(h.ctx, req) }()
	return out
}

// joinNow joins and waits for the answer.
func (cl *client) joinNow(h *harness) *kmsg.JoinGroupResponse {
	h.t.Helper()
	return cl.recvJoin(h, cl.join(h))
}

func (cl *client) recvJoin(h *harness, ch <-chan *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	h.t.Helper()
	select {
	case resp := <-ch:
		if resp != nil && resp.ErrorCode == 0 {
			cl.id, cl.gen = resp.MemberID, resp.Generation
			if resp.Protocol != nil {
				cl.protocol = *resp.Protocol
			}
		}
		return resp
	case <-time.After(5 * time.Second):
		h.t.Fatalf("join of %s/%s did not return", cl.group, cl.id)
		return nil
	}
}

// getID performs the KIP-394 first join and keeps the handed-out id.
func (cl *client) getID(h *harness) {
	h.t.Helper()
	resp := cl.joinNow(h)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != kerr.MemberIDRequired {
		h.t.Fatalf("first join: got %v, want MEMBER_ID_REQUIRED", err)
	}
	cl.id = resp.MemberID
}

func (cl *client) syncReq(plan []kmsg.SyncGroupRequestGroupAssignment) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation, req.InstanceID = cl.group, cl.id, cl.gen, cl.instance
	req.ProtocolType = kmsg.StringPtr("consumer")
	req.Protocol = kmsg.StringPtr("cooperative-sticky")
	if cl.protocol != "" {
		req.Protocol = kmsg.StringPtr(cl.protocol)
	}
	req.GroupAssignment = plan
	return req
}

func (cl *client) sync(h *harness, plan []kmsg.SyncGroupRequestGroupAssignment) <-chan *kmsg.SyncGroupResponse {
	out := make(chan *kmsg.SyncGroupResponse, 1)
	req := cl.syncReq(plan)
	go func() { out <- h.c.SyncGroup(h.ctx, req) }()
	return out
}

func (cl *client) recvSync(h *harness, ch <-chan *kmsg.SyncGroupResponse) *kmsg.SyncGroupResponse {
	h.t.Helper()
	select {
	case resp := <-ch:
		if resp != nil && resp.ErrorCode == 0 {
			cl.assignment = string(resp.MemberAssignment)
		}
		return resp
	case <-time.After(5 * time.Second):
		h.t.Fatalf("sync of %s/%s did not return", cl.group, cl.id)
		return nil
	}
}

func (cl *client) heartbeat(h *harness) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation, req.InstanceID = cl.group, cl.id, cl.gen, cl.instance
	return h.c.Heartbeat(h.ctx, req).ErrorCode
}

func (cl *client) leave(h *harness) int16 {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = cl.group
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID, m.InstanceID = cl.id, cl.instance
	req.Members = append(req.Members, m)
	return h.c.LeaveGroup(h.ctx, req).Members[0].ErrorCode
}

// rebalance runs one complete join+sync round for cls (all must be
// members or hold a handed-out id): joins in parallel, the leader assigns
// "a:<member id>" to everyone, syncs in parallel. It returns the leader.
func rebalance(h *harness, cls ...*client) *client {
	h.t.Helper()
	joins := make([]<-chan *kmsg.JoinGroupResponse, len(cls))
	for i, cl := range cls {
		joins[i] = cl.join(h)
	}
	if d := h.c.cfg.InitialRebalanceDelay; d > 0 {
		// Static members skip MEMBER_ID_REQUIRED, so only the initial
		// delay gathers them into one generation: let it run out.
		h.waitParked(cls[0].group, len(cls))
		for h.state(cls[0].group) == StatePreparingRebalance {
			h.advance(d)
		}
	}
	var leader *client
	var members []kmsg.JoinGroupResponseMember
	for i, cl := range cls {
		resp := cl.recvJoin(h, joins[i])
		if resp == nil || resp.ErrorCode != 0 {
			h.t.Fatalf("join %d: %+v", i, resp)
		}
		if resp.LeaderID == resp.MemberID {
			leader, members = cl, resp.Members
		}
	}
	if leader == nil {
		h.t.Fatalf("no member was told it leads")
	}
	var plan []kmsg.SyncGroupRequestGroupAssignment
	for _, m := range members {
		plan = append(plan, kmsg.SyncGroupRequestGroupAssignment{MemberID: m.MemberID, MemberAssignment: []byte("a:" + m.MemberID)})
	}
	syncs := make([]<-chan *kmsg.SyncGroupResponse, len(cls))
	for i, cl := range cls {
		if cl != leader {
			syncs[i] = cl.sync(h, nil)
		}
	}
	for i, cl := range cls {
		if cl == leader {
			syncs[i] = cl.sync(h, plan)
		}
	}
	for i, cl := range cls {
		resp := cl.recvSync(h, syncs[i])
		if resp == nil || resp.ErrorCode != 0 {
			h.t.Fatalf("sync %d: %+v", i, resp)
		}
		if cl.assignment != "a:"+cl.id {
			h.t.Fatalf("member %s got assignment %q", cl.id, cl.assignment)
		}
	}
	return leader
}

// withDelay sets a 3s initial rebalance delay (on the fake clock).
func withDelay(c *Config) { c.InitialRebalanceDelay = 3 * time.Second }

// expectCode fails unless got is the code of want (nil = success).
func expectCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: got %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(wantCode))
	}
}
