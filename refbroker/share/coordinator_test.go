package share

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// member joins group g on topic t through Heartbeat and returns its epoch.
func join(t *testing.T, c *Coordinator, group, member, topic string) int32 {
	t.Helper()
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.SubscribedTopicNames = group, member, []string{topic}
	resp := c.Heartbeat(req, ClientInfo{ClientID: "test"})
	if resp.ErrorCode != 0 {
		t.Fatalf("join %s: %v", member, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.MemberEpoch
}

// fetch opens (epoch 0) or continues a session on conn and acquires.
func fetch(t *testing.T, c *Coordinator, conn any, group, member string, epoch int32, id [16]byte, acks ...kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) ([]Acquired, *kmsg.ShareFetchResponse) {
	t.Helper()
	req := kmsg.NewPtrShareFetchRequest()
	req.Version = 2
	req.GroupID, req.MemberID, req.ShareSessionEpoch, req.MaxRecords = &group, &member, epoch, 100
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = id
	rp := kmsg.NewShareFetchRequestTopicPartition()
	rp.AcknowledgementBatches = acks
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, f := c.StartFetch(conn, req)
	if f == nil {
		return nil, resp
	}
	acq, _ := c.Acquire(f)
	return acq, f.Response()
}

func offsets(acq []Acquired) []int64 {
	var out []int64
	for _, a := range acq {
		for _, r := range a.Ranges {
			for o := r.FirstOffset; o <= r.LastOffset; o++ {
				out = append(out, o)
			}
		}
	}
	return out
}

func ackBatchOf(first, last int64, typ int8) kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch {
	b := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
	b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = first, last, []int8{typ}
	return b
}

func TestCoordinatorPersistsAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	topics := newFakeTopics()
	id := topics.add("t", 1, 6)
	c, err := New(Config{Dir: dir, Topics: topics, DeliveryLimit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AlterConfigs("g", []ConfigOp{{Name: ConfigAutoOffsetReset, Value: "earliest"}}, false); err != nil {
		t.Fatal(err)
	}
	join(t, c, "g", "m", "t")
	acq, _ := fetch(t, c, "conn1", "g", "m", 0, id)
	if got := offsets(acq); !slices.Equal(got, []int64{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("acquired %v", got)
	}
	// accept 0, reject 1, release 2 (count 1 < 3: available), keep 3-5.
	_, resp := fetch(t, c, "conn1", "g", "m", 1, id, ackBatchOf(0, 0, ackAccept), ackBatchOf(1, 1, ackReject), ackBatchOf(2, 2, ackRelease))
	if code := resp.Topics[0].Partitions[0].AcknowledgeErrorCode; code != 0 {
		t.Fatalf("ack: %v", kerr.ErrorForCode(code))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2 := newCoordinator(t, Config{Dir: dir, Topics: topics, DeliveryLimit: 3})
	if got := c2.GroupConfigs("g")[ConfigAutoOffsetReset]; got != "earliest" {
		t.Fatalf("config after restart: %q", got)
	}
	join(t, c2, "g", "m2", "t")
	acq, _ = fetch(t, c2, "conn2", "g", "m2", 0, id)
	if got := offsets(acq); !slices.Equal(got, []int64{2, 3, 4, 5}) {
		t.Fatalf("after restart acquired %v, want [2 3 4 5]", got)
	}
	// 2 was released and re-acquired by the acknowledging fetch, so this
	// is its third delivery; 3-5 were acquired once before the restart.
	var counts []int16
	for _, a := range acq {
		for _, r := range a.Ranges {
			for range r.LastOffset - r.FirstOffset + 1 {
				counts = append(counts, r.DeliveryCount)
			}
		}
	}
	if !slices.Equal(counts, []int16{3, 2, 2, 2}) {
		t.Errorf("delivery counts after restart %v, want [3 2 2 2]", counts)
	}
}

func TestStoreDropsTornTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	topics := newFakeTopics()
	id := topics.add("t", 1, 4)
	c := newCoordinator(t, Config{Dir: dir, Topics: topics})
	if err := c.AlterConfigs("g", []ConfigOp{{Name: ConfigAutoOffsetReset, Value: "earliest"}}, false); err != nil {
		t.Fatal(err)
	}
	join(t, c, "g", "m", "t")
	fetch(t, c, "conn", "g", "m", 0, id)
	fetch(t, c, "conn", "g", "m", 1, id, ackBatchOf(0, 1, ackAccept))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, stateFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	frames, valid := decodeLog(data)
	if valid != len(data) || len(frames) == 0 {
		t.Fatalf("clean log: %d of %d bytes valid, %d frames", valid, len(data), len(frames))
	}
	// A torn append and a bit flip in a following frame are both
	// dropped; the frames before survive.
	torn := append(slices.Clone(data), appendFrame(nil, &frame{kind: kindConfig, group: "x", configs: map[string]string{"a": "b"}})[:10]...)
	if err := os.WriteFile(path, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	c2 := newCoordinator(t, Config{Dir: dir, Topics: topics})
	join(t, c2, "g", "m", "t")
	acq, _ := fetch(t, c2, "conn", "g", "m", 0, id)
	if got := offsets(acq); !slices.Equal(got, []int64{2, 3}) {
		t.Fatalf("after torn tail acquired %v, want [2 3]", got)
	}
	flipped := slices.Clone(data)
	flipped[len(flipped)-1] ^= 0xff
	_, valid = decodeLog(flipped)
	if valid >= len(flipped) {
		t.Fatal("bit flip in the last frame not detected")
	}
}

func TestMemberLeaveAndFenceRelease(t *testing.T) {
	t.Parallel()
	topics := newFakeTopics()
	id := topics.add("t", 1, 3)
	clk := &fakeClock{now: t0}
	c := newCoordinator(t, Config{Topics: topics, Now: clk.Now, SessionTimeout: time.Second})
	if err := c.AlterConfigs("g", []ConfigOp{{Name: ConfigAutoOffsetReset, Value: "earliest"}}, false); err != nil {
		t.Fatal(err)
	}
	epoch := join(t, c, "g", "a", "t")
	join(t, c, "g", "b", "t")
	if acq, _ := fetch(t, c, "ca", "g", "a", 0, id); len(offsets(acq)) != 3 {
		t.Fatalf("a acquired %v", offsets(acq))
	}
	if acq, _ := fetch(t, c, "cb", "g", "b", 0, id); len(acq) != 0 {
		t.Fatalf("b acquired a's records: %v", offsets(acq))
	}
	// a leaves: its records go to b, and a's session is gone.
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch = "g", "a", -1
	if resp := c.Heartbeat(req, ClientInfo{}); resp.ErrorCode != 0 || resp.MemberEpoch != -1 {
		t.Fatalf("leave: %d epoch %d", resp.ErrorCode, resp.MemberEpoch)
	}
	if _, resp := fetch(t, c, "ca", "g", "a", 1, id); resp.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("departed member's session: code %d", resp.ErrorCode)
	}
	acq, _ := fetch(t, c, "cb", "g", "b", 1, id)
	if got := offsets(acq); !slices.Equal(got, []int64{0, 1, 2}) {
		t.Fatalf("b after a left acquired %v", got)
	}
	// b stops heartbeating: fenced after the session timeout.
	clk.advance(2 * time.Second)
	c.mu.Lock()
	c.expireLocked(clk.Now())
	c.mu.Unlock()
	req.MemberID, req.MemberEpoch = "b", epoch+1
	if resp := c.Heartbeat(req, ClientInfo{}); resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("fenced member heartbeat: code %d, want UNKNOWN_MEMBER_ID", resp.ErrorCode)
	}
	join(t, c, "g", "c", "t")
	acq, _ = fetch(t, c, "cc", "g", "c", 0, id)
	if got := offsets(acq); !slices.Equal(got, []int64{0, 1, 2}) {
		t.Fatalf("after b was fenced, c acquired %v", got)
	}
}

func TestHeartbeatEpochs(t *testing.T) {
	t.Parallel()
	topics := newFakeTopics()
	topics.add("t", 2, 0)
	c := newCoordinator(t, Config{Topics: topics})
	epoch := join(t, c, "g", "a", "t")
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch = "g", "a", epoch
	resp := c.Heartbeat(req, ClientInfo{})
	if resp.ErrorCode != 0 || resp.MemberEpoch != epoch || resp.Assignment != nil {
		t.Fatalf("steady heartbeat: code %d epoch %d assignment %v", resp.ErrorCode, resp.MemberEpoch, resp.Assignment)
	}
	// The topic grows: the next heartbeat carries a new assignment and epoch.
	topics.add("t", 3, 0)
	resp = c.Heartbeat(req, ClientInfo{})
	if resp.ErrorCode != 0 || resp.MemberEpoch <= epoch || resp.Assignment == nil || len(resp.Assignment.TopicPartitions[0].Partitions) != 3 {
		t.Fatalf("after growth: code %d epoch %d assignment %+v", resp.ErrorCode, resp.MemberEpoch, resp.Assignment)
	}
	req.MemberEpoch = epoch + 5
	if resp := c.Heartbeat(req, ClientInfo{}); resp.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("wrong epoch: code %d, want FENCED_MEMBER_EPOCH", resp.ErrorCode)
	}
	for _, bad := range []*kmsg.ShareGroupHeartbeatRequest{
		{GroupID: "", MemberID: "a"},
		{GroupID: "g", MemberID: ""},
		{GroupID: "g", MemberID: "a", MemberEpoch: -2},
		{GroupID: "g", MemberID: "x"}, // join without topics
	} {
		if resp := c.Heartbeat(bad, ClientInfo{}); resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("%+v: code %d, want INVALID_REQUEST", bad, resp.ErrorCode)
		}
	}
}

func TestConnClosedReleases(t *testing.T) {
	t.Parallel()
	topics := newFakeTopics()
	id := topics.add("t", 1, 2)
	c := newCoordinator(t, Config{Topics: topics})
	if err := c.AlterConfigs("g", []ConfigOp{{Name: ConfigAutoOffsetReset, Value: "earliest"}}, false); err != nil {
		t.Fatal(err)
	}
	join(t, c, "g", "a", "t")
	join(t, c, "g", "b", "t")
	fetch(t, c, "ca", "g", "a", 0, id)
	changed := c.Changed()
	c.ConnClosed("ca")
	select {
	case <-changed:
	default:
		t.Fatal("Changed not signalled by a release")
	}
	acq, _ := fetch(t, c, "cb", "g", "b", 0, id)
	if got := offsets(acq); !slices.Equal(got, []int64{0, 1}) {
		t.Fatalf("after disconnect b acquired %v", got)
	}
}

// TestDeleteTopicForgetsState: a deleted topic's share state leaves memory
// and the state log, so it neither costs timer sweeps nor comes back after
// a restart, while another topic's state stays.
func TestDeleteTopicForgetsState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	topics := newFakeTopics()
	ids := map[string][16]byte{"gone": topics.add("gone", 1, 3), "kept": topics.add("kept", 1, 3)}
	c, err := New(Config{Dir: dir, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gone", "kept"} {
		group := "g-" + name
		if err := c.AlterConfigs(group, []ConfigOp{{Name: ConfigAutoOffsetReset, Value: "earliest"}}, false); err != nil {
			t.Fatal(err)
		}
		join(t, c, group, "m", name)
		if acq, _ := fetch(t, c, "conn-"+name, group, "m", 0, ids[name]); len(offsets(acq)) != 3 {
			t.Fatalf("%s: acquired %v", name, offsets(acq))
		}
	}
	c.DeleteTopic(ids["gone"])
	parts := func(c *Coordinator, group string) int {
		c.mu.Lock()
		defer c.mu.Unlock()
		if g := c.groups[group]; g != nil {
			return len(g.parts)
		}
		return 0
	}
	if parts(c, "g-gone") != 0 || parts(c, "g-kept") != 1 {
		t.Fatalf("after DeleteTopic: %d and %d partitions, want 0 and 1", parts(c, "g-gone"), parts(c, "g-kept"))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := newCoordinator(t, Config{Dir: dir, Topics: topics})
	if parts(c2, "g-gone") != 0 || parts(c2, "g-kept") != 1 {
		t.Errorf("after restart: %d and %d partitions, want 0 and 1", parts(c2, "g-gone"), parts(c2, "g-kept"))
	}
}
