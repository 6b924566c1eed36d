package group

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commitReq is a v9 commit of one partition by cl (or a simple commit when
// cl.id is "" and cl.gen is -1).
func commitReq(cl *client, topic string, partition int32, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 9
	req.Group, req.MemberID, req.Generation, req.InstanceID = cl.group, cl.id, cl.gen, cl.instance
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch = partition, offset, 7
	p.Metadata = kmsg.StringPtr("md")
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func simpleClient(group string) *client {
	return &client{group: group, gen: -1}
}

// fetch returns group's committed offset of topic/partition via a v8+
// multi-group OffsetFetch.
func fetch(h *harness, group, topic string, partition int32) kmsg.OffsetFetchResponseGroupTopicPartition {
	h.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 9
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp := h.c.OffsetFetch(h.ctx, req)
	g := resp.Groups[0]
	expectCode(h.t, "fetch group", g.ErrorCode, nil)
	return g.Topics[0].Partitions[0]
}

func commitCode(h *harness, cl *client, topic string, partition int32, offset int64) int16 {
	return h.c.OffsetCommit(h.ctx, commitReq(cl, topic, partition, offset)).Topics[0].Partitions[0].ErrorCode
}

func TestOffsetCommitRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	expectCode(t, "simple commit to new group", commitCode(h, simpleClient("solo"), "t", 0, 10), nil)
	if p := fetch(h, "solo", "t", 0); p.Offset != 10 || p.LeaderEpoch != 7 || *p.Metadata != "md" {
		t.Fatalf("fetched %+v", p)
	}
	expectCode(t, "member commit to unknown group", commitCode(h, &client{group: "nope", id: "x", gen: 3}, "t", 0, 1), kerr.IllegalGeneration)

	cls := threeStable(h)
	expectCode(t, "member commit", commitCode(h, cls[0], "t", 1, 42), nil)
	if p := fetch(h, "g", "t", 1); p.Offset != 42 {
		t.Fatalf("fetched %+v", p)
	}
	expectCode(t, "simple commit to live group", commitCode(h, simpleClient("g"), "t", 1, 1), kerr.UnknownMemberID)
	if p := fetch(h, "g", "t", 9); p.Offset != -1 || p.LeaderEpoch != -1 {
		t.Fatalf("uncommitted partition %+v", p)
	}
	// Commits stay allowed while joins gather (eager revoke callbacks).
	expectCode(t, "leave", cls[2].leave(h), nil)
	expectCode(t, "commit during PreparingRebalance", commitCode(h, cls[0], "t", 1, 43), nil)
	// ...but not while the leader assigns.
	joins := []<-chan *kmsg.JoinGroupResponse{cls[0].join(h), cls[1].join(h)}
	gen := cls[0].gen
	cls[0].recvJoin(h, joins[0])
	cls[1].recvJoin(h, joins[1])
	if cls[0].gen != gen+1 {
		t.Fatalf("generation %d", cls[0].gen)
	}
	expectCode(t, "commit during CompletingRebalance", commitCode(h, cls[0], "t", 1, 44), kerr.RebalanceInProgress)

	big := commitReq(simpleClient("solo"), "t", 0, 1)
	big.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(string(make([]byte, DefaultMaxMetadataBytes+1)))
	expectCode(t, "metadata too large", h.c.OffsetCommit(h.ctx, big).Topics[0].Partitions[0].ErrorCode, kerr.OffsetMetadataTooLarge)
}

func TestOffsetFetchForms(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for p := int32(0); p < 3; p++ {
		expectCode(t, "commit", commitCode(h, simpleClient("g"), "b", p, int64(p)), nil)
	}
	expectCode(t, "commit", commitCode(h, simpleClient("g"), "a", 0, 5), nil)

	// v7 with nil topics: every committed topic, sorted.
	resp := h.c.OffsetFetch(h.ctx, &kmsg.OffsetFetchRequest{Version: 7, Group: "g"})
	if len(resp.Topics) != 2 || resp.Topics[0].Topic != "a" || len(resp.Topics[1].Partitions) != 3 {
		t.Fatalf("all-topics fetch %+v", resp.Topics)
	}
	// v8 multi-group, one unknown group.
	req := &kmsg.OffsetFetchRequest{Version: 8, Groups: []kmsg.OffsetFetchRequestGroup{{Group: "g"}, {Group: "other"}}}
	r8 := h.c.OffsetFetch(h.ctx, req)
	if len(r8.Groups) != 2 || len(r8.Groups[0].Topics) != 2 || len(r8.Groups[1].Topics) != 0 {
		t.Fatalf("multi-group fetch %+v", r8.Groups)
	}
	// v1 has no top-level error and v0/v1 never mean "all topics".
	r1 := h.c.OffsetFetch(h.ctx, &kmsg.OffsetFetchRequest{Version: 1, Group: "", Topics: []kmsg.OffsetFetchRequestTopic{{Topic: "a", Partitions: []int32{0}}}})
	expectCode(t, "v1 invalid group", r1.Topics[0].Partitions[0].ErrorCode, kerr.InvalidGroupID)
}

func TestOffsetsPersistAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, func(c *Config) { c.Dir, c.Fsync = dir, true })
	cls := threeStable(h)
	expectCode(t, "commit", commitCode(h, cls[0], "t", 0, 100), nil)
	expectCode(t, "commit", commitCode(h, cls[1], "t", 0, 101), nil) // overwrites
	expectCode(t, "commit", commitCode(h, cls[1], "gone", 0, 5), nil)
	expectCode(t, "commit", commitCode(h, simpleClient("tmp"), "t", 3, 7), nil)
	h.c.DeleteTopic("gone")
	for _, cl := range cls {
		expectCode(t, "leave", cl.leave(h), nil)
	}
	rebalanceEmpty := h.state("g")
	if rebalanceEmpty != StateEmpty {
		t.Fatalf("state %v after everyone left", rebalanceEmpty)
	}
	resp := h.c.DeleteGroups(h.ctx, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"tmp"}})
	expectCode(t, "delete tmp", resp.Groups[0].ErrorCode, nil)
	if err := h.c.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := newHarness(t, func(c *Config) { c.Dir = dir })
	if p := fetch(h2, "g", "t", 0); p.Offset != 101 || p.LeaderEpoch != 7 || *p.Metadata != "md" {
		t.Fatalf("restored %+v", p)
	}
	if p := fetch(h2, "g", "gone", 0); p.Offset != -1 {
		t.Fatalf("deleted topic came back: %+v", p)
	}
	if p := fetch(h2, "tmp", "t", 3); p.Offset != -1 {
		t.Fatalf("deleted group came back: %+v", p)
	}
	lg := h2.c.ListGroups(h2.ctx, &kmsg.ListGroupsRequest{Version: 5})
	if len(lg.Groups) != 1 || lg.Groups[0].Group != "g" || lg.Groups[0].GroupState != "Empty" || lg.Groups[0].ProtocolType != "consumer" {
		t.Fatalf("restored groups %+v", lg.Groups)
	}
	// The restored group accepts members and commits as usual.
	a := newClient("g", "a")
	a.getID(h2)
	rebalance(h2, a)
	expectCode(t, "commit after restart", commitCode(h2, a, "t", 0, 102), nil)
}

func TestTornTailRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, func(c *Config) { c.Dir = dir })
	for i := range 5 {
		expectCode(t, "commit", commitCode(h, simpleClient("g"), "t", int32(i), int64(i)), nil)
	}
	if err := h.c.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, offsetsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Append half of another frame, as a crash mid-write leaves it.
	frame := appendFrame(nil, &record{kind: kindCommit, group: "g", entries: []offsetEntry{{topic: "t", partition: 9, committed: committed{offset: 9}}}})
	if err := os.WriteFile(path, append(data, frame[:len(frame)/2]...), 0o644); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, func(c *Config) { c.Dir = dir })
	for i := range 5 {
		if p := fetch(h2, "g", "t", int32(i)); p.Offset != int64(i) {
			t.Fatalf("partition %d recovered as %+v", i, p)
		}
	}
	if p := fetch(h2, "g", "t", 9); p.Offset != -1 {
		t.Fatalf("torn frame recovered: %+v", p)
	}
	// New commits land after the dropped tail and survive another restart.
	expectCode(t, "commit", commitCode(h2, simpleClient("g"), "t", 9, 99), nil)
	if err := h2.c.Close(); err != nil {
		t.Fatal(err)
	}
	h3 := newHarness(t, func(c *Config) { c.Dir = dir })
	if p := fetch(h3, "g", "t", 9); p.Offset != 99 {
		t.Fatalf("commit after recovery lost: %+v", p)
	}
}

// TestDamagedFrameCostsOneCommit: a flipped byte in the offsets log costs
// the commit in that frame, not the commits after it (it used to drop
// every later frame: a flip at byte 12 lost all five groups).
func TestDamagedFrameCostsOneCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, func(c *Config) { c.Dir = dir })
	groups := []string{"g0", "g1", "g2", "g3", "g4"}
	for i, g := range groups {
		expectCode(t, "commit", commitCode(h, simpleClient(g), "t", 0, int64(10+i)), nil)
	}
	if err := h.c.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, offsetsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[12] ^= 0xff // inside the first frame's payload
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, func(c *Config) { c.Dir = dir })
	lost := 0
	for i, g := range groups {
		switch p := fetch(h2, g, "t", 0); p.Offset {
		case int64(10 + i):
		case -1:
			lost++
		default:
			t.Fatalf("group %s recovered offset %d, want %d or none", g, p.Offset, 10+i)
		}
	}
	if lost != 1 {
		t.Fatalf("%d groups lost their commit, want exactly the one in the damaged frame", lost)
	}
}

func TestDeleteGroups(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	threeStable(h)
	expectCode(t, "commit", commitCode(h, simpleClient("idle"), "t", 0, 1), nil)
	resp := h.c.DeleteGroups(h.ctx, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"g", "missing", "idle"}})
	expectCode(t, "live group", resp.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	expectCode(t, "missing group", resp.Groups[1].ErrorCode, kerr.GroupIDNotFound)
	expectCode(t, "idle group", resp.Groups[2].ErrorCode, nil)
	if p := fetch(h, "idle", "t", 0); p.Offset != -1 {
		t.Fatalf("offsets of a deleted group: %+v", p)
	}
	d := h.c.DescribeGroups(h.ctx, &kmsg.DescribeGroupsRequest{Version: 6, Groups: []string{"idle"}}).Groups[0]
	expectCode(t, "describe deleted", d.ErrorCode, kerr.GroupIDNotFound)
	d = h.c.DescribeGroups(h.ctx, &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"idle"}}).Groups[0]
	if d.ErrorCode != 0 || d.State != "Dead" {
		t.Fatalf("v5 describe of a deleted group %+v", d)
	}
}

func TestListGroupsFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	threeStable(h)
	expectCode(t, "commit", commitCode(h, simpleClient("idle"), "t", 0, 1), nil)
	tests := []struct {
		name string
		req  kmsg.ListGroupsRequest
		want []string
	}{
		{"all", kmsg.ListGroupsRequest{Version: 3}, []string{"g", "idle"}},
		{"stable only", kmsg.ListGroupsRequest{Version: 4, StatesFilter: []string{"stable"}}, []string{"g"}},
		{"empty only", kmsg.ListGroupsRequest{Version: 4, StatesFilter: []string{"Empty"}}, []string{"idle"}},
		{"consumer type", kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"consumer"}}, nil},
		{"classic type", kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"Classic"}}, []string{"g", "idle"}},
	}
	for _, tt := range tests {
		var got []string
		for _, g := range h.c.ListGroups(h.ctx, &tt.req).Groups {
			got = append(got, g.Group)
		}
		if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
			t.Fatalf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPeriodicCompaction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, func(c *Config) { c.Dir = dir })
	h.c.mu.Lock()
	h.c.store.log.SetCompactMinBytes(1 << 10)
	h.c.mu.Unlock()
	for i := range 2000 {
		expectCode(t, "commit", commitCode(h, simpleClient("g"), "t", int32(i%3), int64(i)), nil)
	}
	h.c.mu.Lock()
	size := h.c.store.log.Size()
	h.c.mu.Unlock()
	st, err := os.Stat(filepath.Join(dir, offsetsFile))
	if err != nil {
		t.Fatal(err)
	}
	// 2000 frames are ~40 kB; compaction keeps it near 3 live offsets.
	if st.Size() != size || size > 8<<10 {
		t.Fatalf("log is %d bytes (store thinks %d): not compacted", st.Size(), size)
	}
	if err := h.c.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, func(c *Config) { c.Dir = dir })
	for p := range int32(3) {
		want := int64(1999 - (1999-int(p))%3)
		if got := fetch(h2, "g", "t", p); got.Offset != want {
			t.Fatalf("partition %d: offset %d, want %d", p, got.Offset, want)
		}
	}
}

// TestPruneTopics: offsets of topics that no longer exist are dropped, in
// memory and durably; the others stay.
func TestPruneTopics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, func(c *Config) { c.Dir = dir })
	expectCode(t, "commit gone", commitCode(h, simpleClient("g"), "gone", 0, 5), nil)
	expectCode(t, "commit kept", commitCode(h, simpleClient("g"), "kept", 0, 7), nil)
	h.c.PruneTopics(func(topic string) bool { return topic == "kept" })
	if p := fetch(h, "g", "gone", 0); p.Offset != -1 {
		t.Errorf("gone/0 = %d after pruning, want -1", p.Offset)
	}
	if err := h.c.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, func(c *Config) { c.Dir = dir })
	if p := fetch(h2, "g", "gone", 0); p.Offset != -1 {
		t.Errorf("gone/0 = %d after restart, want -1", p.Offset)
	}
	if p := fetch(h2, "g", "kept", 0); p.Offset != 7 {
		t.Errorf("kept/0 = %d after restart, want 7", p.Offset)
	}
}
