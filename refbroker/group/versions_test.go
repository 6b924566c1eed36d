package group

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestEveryVersionEncodes calls every API at every advertised version, in
// both success and error paths, and checks that the response has the
// request's version and survives a kmsg encode/decode round trip (no nil
// where the wire needs a value).
func TestEveryVersionEncodes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	cls := threeStable(h)
	expectCode(t, "commit", commitCode(h, cls[0], "t", 0, 1), nil)
	roundTrip := func(key, v int16, resp kmsg.Response) {
		t.Helper()
		if resp.GetVersion() != v {
			t.Fatalf("key %d v%d: response version %d", key, v, resp.GetVersion())
		}
		back := kmsg.ResponseForKey(key)
		back.SetVersion(v)
		if err := back.ReadFrom(resp.AppendTo(nil)); err != nil {
			t.Fatalf("key %d v%d: %v", key, v, err)
		}
	}
	for key, r := range Versions() {
		for v := r[0]; v <= r[1]; v++ {
			for _, group := range []string{"g", "", "missing"} {
				for _, resp := range callAt(h, key, v, group, cls[0]) {
					roundTrip(key, v, resp)
				}
			}
		}
	}
}

// callAt sends one non-blocking request of key at version v.
func callAt(h *harness, key, v int16, group string, cl *client) []kmsg.Response {
	topics := []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	switch key {
	case keyOffsetCommit:
		req := commitReq(cl, "t", 0, 2)
		req.Version, req.Group = v, group
		return []kmsg.Response{h.c.OffsetCommit(h.ctx, req)}
	case keyOffsetFetch:
		req := &kmsg.OffsetFetchRequest{Version: v, Group: group, Topics: topics}
		all := &kmsg.OffsetFetchRequest{Version: v, Group: group}
		if v >= 8 {
			req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0, 1}}}}}
			all.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group}}
		}
		return []kmsg.Response{h.c.OffsetFetch(h.ctx, req), h.c.OffsetFetch(h.ctx, all)}
	case keyJoinGroup:
		// A new member of a fresh group is answered at once: v4+ with
		// MEMBER_ID_REQUIRED, older versions by a round of one.
		if group != "" {
			group = fmt.Sprintf("%s-join-v%d", group, v)
		}
		req := newClient(group, "m").joinReq()
		req.Version = v
		bad := newClient(group, "m").joinReq()
		bad.Version, bad.SessionTimeoutMillis = v, 1
		return []kmsg.Response{h.c.JoinGroup(h.ctx, req), h.c.JoinGroup(h.ctx, bad)}
	case keySyncGroup:
		req := cl.syncReq(nil)
		req.Version, req.Group = v, group
		return []kmsg.Response{h.c.SyncGroup(h.ctx, req)} // Stable: answered at once
	case keyHeartbeat:
		req := &kmsg.HeartbeatRequest{Version: v, Group: group, MemberID: cl.id, Generation: cl.gen}
		return []kmsg.Response{h.c.Heartbeat(h.ctx, req)}
	case keyLeaveGroup:
		req := &kmsg.LeaveGroupRequest{Version: v, Group: group, MemberID: "ghost",
			Members: []kmsg.LeaveGroupRequestMember{{MemberID: "ghost"}}}
		return []kmsg.Response{h.c.LeaveGroup(h.ctx, req)}
	case keyDescribeGroups:
		return []kmsg.Response{h.c.DescribeGroups(h.ctx, &kmsg.DescribeGroupsRequest{Version: v, Groups: []string{group}})}
	case keyListGroups:
		return []kmsg.Response{h.c.ListGroups(h.ctx, &kmsg.ListGroupsRequest{Version: v})}
	case keyDeleteGroups:
		return []kmsg.Response{h.c.DeleteGroups(h.ctx, &kmsg.DeleteGroupsRequest{Version: v, Groups: []string{"missing", group}})}
	}
	h.t.Fatalf("no caller for key %d", key)
	return nil
}
