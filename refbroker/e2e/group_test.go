package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// paced produces unique values "v<i>" to topic every tick until stopped,
// remembering which ones were acknowledged.
type paced struct {
	cancel context.CancelFunc
	done   chan struct{}
	cl     *kgo.Client

	mu    sync.Mutex
	acked []string
	errs  []error
}

// startPaced starts a producer at about 500 records/s. Pacing keeps the
// group tests' data small; it is a rate, not a synchronisation.
func startPaced(t testing.TB, addr, topic string) *paced {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &paced{cancel: cancel, done: make(chan struct{}), cl: newClient(t, addr, kgo.DefaultProduceTopic(topic))}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			v := fmt.Sprintf("v%d", i)
			p.cl.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(_ *kgo.Record, err error) {
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil {
					p.errs = append(p.errs, err)
					return
				}
				p.acked = append(p.acked, v)
			})
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// stop stops producing, waits for outstanding records and returns the
// acknowledged values. Records still buffered are cancelled, not acked.
func (p *paced) stop() {
	p.cancel()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = p.cl.Flush(ctx)
}

// ackedValues returns the acknowledged values and the produce errors.
func (p *paced) ackedValues() ([]string, []error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.acked), slices.Clone(p.errs)
}

// TestGroupRebalance runs a 3-member group on a 6-partition topic under a
// running producer; a member leaves and a new one joins. Every acknowledged
// record must be consumed at least once, every settled state must be
// balanced and agree with DescribeGroups, and revocations must follow the
// balancer's protocol: eager revokes everything on every rebalance,
// cooperative-sticky only what moves.
func TestGroupRebalance(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("long group scenario (member leave and join under load); skipped with -short")
	}
	for _, tc := range []struct {
		name  string
		bal   kgo.GroupBalancer
		eager bool
	}{
		{"cooperative-sticky", kgo.CooperativeStickyBalancer(), false},
		{"range-eager", kgo.RangeBalancer(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const topic, group, parts = "orders", "g", 6
			b := newRefbroker(t, refbrokerConfig(t))
			adm := newAdmin(t, b.Addr())
			createTopic(t, adm, topic, parts)
			prod := startPaced(t, b.Addr(), topic)
			seen := newValueSet()
			o := memberOpts{addr: b.Addr(), group: group, topic: topic, balancer: tc.bal, seen: seen}

			// flowing checks that the current membership consumes: 200 more
			// records are acknowledged and everything acknowledged so far
			// has been consumed.
			flowing := func(stage string) {
				t.Helper()
				acked, _ := prod.ackedValues()
				target := len(acked) + 200
				waitFor(t, 60*time.Second, "200 more acknowledged records "+stage, func() bool {
					acked, _ = prod.ackedValues()
					return len(acked) >= target
				})
				waitFor(t, 60*time.Second, "acknowledged records to be consumed "+stage, func() bool {
					return len(seen.missing(acked)) == 0
				})
			}

			m1, m2, m3 := newMember(t, "m1", o), newMember(t, "m2", o), newMember(t, "m3", o)
			waitSettled(t, adm, group, topic, parts, m1, m2, m3)
			flowing("with 3 members")

			// m2 leaves: its partitions go to m1 and m3.
			before1, rev1, _ := m1.snapshot()
			before3, rev3, _ := m3.snapshot()
			m2.close()
			waitSettled(t, adm, group, topic, parts, m1, m3)
			flowing("after m2 left")
			after1, rev1b, _ := m1.snapshot()
			after3, rev3b, _ := m3.snapshot()
			if tc.eager {
				// Eager: every member gives up everything before rejoining.
				if rev1b-rev1 != len(before1) || rev3b-rev3 != len(before3) {
					t.Errorf("eager leave: m1 revoked %d (owned %v), m3 revoked %d (owned %v); want all", rev1b-rev1, before1, rev3b-rev3, before3)
				}
			} else {
				// Cooperative-sticky: survivors keep what they had.
				if rev1b != rev1 || rev3b != rev3 || !subset(before1, after1) || !subset(before3, after3) {
					t.Errorf("cooperative leave: m1 %v -> %v (revoked %d), m3 %v -> %v (revoked %d); want no revocation", before1, after1, rev1b-rev1, before3, after3, rev3b-rev3)
				}
			}

			// m4 joins: 2 partitions move to it.
			m4 := newMember(t, "m4", o)
			waitSettled(t, adm, group, topic, parts, m1, m3, m4)
			flowing("after m4 joined")
			final1, rev1c, _ := m1.snapshot()
			final3, rev3c, _ := m3.snapshot()
			if tc.eager {
				if rev1c-rev1b != len(after1) || rev3c-rev3b != len(after3) {
					t.Errorf("eager join: m1 revoked %d of %v, m3 revoked %d of %v; want all", rev1c-rev1b, after1, rev3c-rev3b, after3)
				}
			} else if rev1c-rev1b+rev3c-rev3b != 2 || !subset(final1, after1) || !subset(final3, after3) {
				t.Errorf("cooperative join: m1 %v -> %v, m3 %v -> %v, %d revoked; want exactly the 2 moved partitions revoked", after1, final1, after3, final3, rev1c-rev1b+rev3c-rev3b)
			}

			// At least once: every acknowledged record reaches some member.
			prod.stop()
			acked, errs := prod.ackedValues()
			if len(acked) == 0 {
				t.Fatalf("producer got no acknowledgements (errors: %v)", errs)
			}
			if len(errs) > 0 {
				t.Logf("%d records failed to produce (not counted): first %v", len(errs), errs[0])
			}
			waitFor(t, 60*time.Second, "every acknowledged record to be consumed", func() bool {
				return len(seen.missing(acked)) == 0
			})
			t.Logf("%d records acknowledged and consumed at least once", len(acked))
		})
	}
}

// subset reports whether every element of a is in b.
func subset(a, b []int32) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// TestStaticMemberRestart restarts a static member (same InstanceID, well
// within the session timeout): it must get its partitions back with no
// rebalance, that is the generation is unchanged and no other member sees a
// revocation (KIP-345). Both a follower and the group leader are restarted.
// A restarted static leader gets SkipAssignment (KIP-814): it must keep the
// current plan and SyncGroup hands back its old assignment.
//
// The leader case uses the range balancer on purpose. With
// cooperative-sticky, kgo recomputes the plan after a KIP-814 join and
// forces a rebalance when its own share differs from what SyncGroup
// returned; it computes from each member's last JoinGroup metadata, which
// after a cooperative two-round rebalance can list fewer owned partitions
// than the member now has (as in Kafka, the coordinator keeps each member's
// last join metadata), so kgo may rebalance against any broker. Range
// orders members by instance ID, so its plan does not depend on that.
func TestStaticMemberRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pick func(m *member) bool
		bal  kgo.GroupBalancer
	}{
		{"follower", func(m *member) bool { return m.led.Load() == 0 }, kgo.CooperativeStickyBalancer()},
		{"leader", func(m *member) bool { return m.led.Load() > 0 }, kgo.RangeBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testStaticRestart(t, tc.pick, tc.bal)
		})
	}
}

func testStaticRestart(t *testing.T, pick func(*member) bool, bal kgo.GroupBalancer) {
	const topic, group, parts = "static", "sg", 6
	b := newRefbroker(t, refbrokerConfig(t))
	adm := newAdmin(t, b.Addr())
	createTopic(t, adm, topic, parts)
	o := func(id string) memberOpts {
		return memberOpts{addr: b.Addr(), group: group, topic: topic, instanceID: id, balancer: bal, sessionTimeout: 20 * time.Second}
	}
	ms := []*member{newMember(t, "s1", o("s1")), newMember(t, "s2", o("s2")), newMember(t, "s3", o("s3"))}
	waitSettled(t, adm, group, topic, parts, ms...)

	// The leader is the one member whose balancer ran; Kafka keeps the
	// leader across rebalances while it stays in the group.
	if leaders := slices.IndexFunc(ms, func(m *member) bool { return m.led.Load() > 0 }); leaders < 0 ||
		slices.IndexFunc(ms[leaders+1:], func(m *member) bool { return m.led.Load() > 0 }) >= 0 {
		t.Fatalf("want exactly one member that led; led counts %d %d %d", ms[0].led.Load(), ms[1].led.Load(), ms[2].led.Load())
	}
	idx := slices.IndexFunc(ms, pick)
	target := ms[idx]
	others := slices.Delete(slices.Clone(ms), idx, idx+1)
	owned, _, _ := target.snapshot()
	gen := target.generation()
	type view struct {
		gen     int32
		owned   []int32
		revoked int
	}
	otherView := func() []view {
		var vs []view
		for _, m := range others {
			o, r, _ := m.snapshot()
			vs = append(vs, view{m.generation(), o, r})
		}
		return vs
	}
	before := otherView()

	target.close()
	restarted := newMember(t, target.name+"-restarted", o(target.name))
	waitFor(t, 30*time.Second, "restarted static member to get its partitions back", func() bool {
		got, _, _ := restarted.snapshot()
		return slices.Equal(got, owned)
	})
	if g := restarted.generation(); g != gen {
		t.Errorf("restarted member is in generation %d, was %d: a rebalance happened", g, gen)
	}
	// A rebalance would reach the others on a heartbeat response; wait for
	// a few answered heartbeats each before comparing.
	hb := make([]int64, len(others))
	for i, m := range others {
		hb[i] = m.heartbeats.Load()
	}
	waitFor(t, 30*time.Second, "3 more heartbeats on every other member", func() bool {
		for i, m := range others {
			if m.heartbeats.Load() < hb[i]+3 {
				return false
			}
		}
		return true
	})
	if after := otherView(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("other members (generation, owned, revoked) changed across a static restart: %v -> %v", before, after)
	}
	waitSettled(t, adm, group, topic, parts, append(others, restarted)...)
}

// TestDuplicateInstanceIDFenced starts a second client with the InstanceID
// of a live static member. Kafka hands the instance to the newcomer and
// answers the old member's next heartbeat with FENCED_INSTANCE_ID; kgo
// surfaces it through HookGroupManageError, as an ErrGroupSession in
// PollFetches, and by calling OnPartitionsLost.
func TestDuplicateInstanceIDFenced(t *testing.T) {
	t.Parallel()
	const topic, group, parts = "dup", "dg", 2
	b := newRefbroker(t, refbrokerConfig(t))
	adm := newAdmin(t, b.Addr())
	createTopic(t, adm, topic, parts)
	o := memberOpts{addr: b.Addr(), group: group, topic: topic, instanceID: "same", sessionTimeout: 20 * time.Second}
	first := newMember(t, "first", o)
	waitSettled(t, adm, group, topic, parts, first)

	second := newMember(t, "second", o)
	waitFor(t, 30*time.Second, "FENCED_INSTANCE_ID on one of the two members", func() bool {
		h1, _ := first.sawError(kerr.FencedInstanceID)
		h2, _ := second.sawError(kerr.FencedInstanceID)
		return h1 || h2
	})
	// The member that was replaced is the first one: the second's join
	// took the instance over.
	hook, _ := first.sawError(kerr.FencedInstanceID)
	if !hook {
		t.Errorf("the old member was not fenced; the new one was")
	}
	waitFor(t, 30*time.Second, "the fenced member to see the error in PollFetches", func() bool {
		_, fetch := first.sawError(kerr.FencedInstanceID)
		return fetch
	})
	if _, _, lost := first.snapshot(); lost == 0 {
		t.Errorf("fenced member's partitions were not reported lost")
	}
	// Once the fenced one goes away, the newcomer owns the whole topic.
	first.close()
	waitSettled(t, adm, group, topic, parts, second)
}

// TestOffsetsSurviveRestart commits offsets, closes the broker, starts it
// again on the same data dir, and checks that the group resumes exactly at
// the committed offsets: nothing before them is redelivered, nothing after
// them is skipped.
func TestOffsetsSurviveRestart(t *testing.T) {
	t.Parallel()
	const topic, group, parts, total = "resume", "rg", 3, 300
	cfg := refbrokerConfig(t)
	b := newRefbroker(t, cfg)
	adm := newAdmin(t, b.Addr())
	createTopic(t, adm, topic, parts)
	produceValues(t, b.Addr(), topic, 0, total)

	// Poll some records, commit exactly those, then poll more without
	// committing: those must be redelivered after the restart.
	c1 := newClient(t, b.Addr(), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond))
	ctx := testCtx(t, 60*time.Second)
	for polled := 0; polled < total/2; {
		fs := c1.PollRecords(ctx, 20)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		polled += fs.NumRecords()
	}
	if err := c1.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	committed := fetchCommitted(t, adm, group, topic)
	if fs := c1.PollRecords(ctx, 20); fs.Err0() != nil {
		t.Fatalf("poll past the commit: %v", fs.Err0())
	}
	c1.Close()

	if err := b.Close(); err != nil {
		t.Fatalf("close broker: %v", err)
	}
	b2 := newRefbroker(t, cfg)
	adm2 := newAdmin(t, b2.Addr())
	if got := fetchCommitted(t, adm2, group, topic); fmt.Sprint(got) != fmt.Sprint(committed) {
		t.Fatalf("committed offsets after restart %v, before %v", got, committed)
	}
	produceValues(t, b2.Addr(), topic, total, total+100)
	end := endOffsets(t, adm2, topic)

	c2 := newClient(t, b2.Addr(), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond))
	got := make(map[int32][]int64)
	var want int64
	for p, hw := range end {
		want += hw - committed[p]
	}
	for n := int64(0); n < want; {
		fs := c2.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll after restart: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], r.Offset); n++ })
	}
	for p, hw := range end {
		var exp []int64
		for o := committed[p]; o < hw; o++ {
			exp = append(exp, o)
		}
		if !slices.Equal(got[p], exp) {
			t.Errorf("partition %d after restart: consumed offsets %v, want %d..%d", p, got[p], committed[p], hw-1)
		}
	}
}

// produceValues synchronously produces values "v<from>".."v<to-1>", keyed
// by value, to topic.
func produceValues(t testing.TB, addr, topic string, from, to int) {
	t.Helper()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	defer cl.Close()
	recs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		v := fmt.Sprintf("v%d", i)
		recs = append(recs, &kgo.Record{Key: []byte(v), Value: []byte(v)})
	}
	if err := cl.ProduceSync(testCtx(t, 30*time.Second), recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records to %s: %v", len(recs), topic, err)
	}
}

// fetchCommitted returns the group's committed offset per partition of
// topic.
func fetchCommitted(t testing.TB, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	resps, err := adm.FetchOffsets(testCtx(t, 30*time.Second), group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := make(map[int32]int64)
	for p, r := range resps[topic] {
		out[p] = r.At
	}
	return out
}

// TestStaticMemberSessionExpiry closes a static member and does not bring
// it back. A static member sends no LeaveGroup, so the coordinator must keep
// its partitions assigned for the session timeout (no early rebalance) and
// then expire it and rebalance its partitions to the survivor.
func TestStaticMemberSessionExpiry(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits out a 6s session timeout; skipped with -short")
	}
	const topic, group, parts, session = "expiry", "eg", 4, 6 * time.Second
	b := newRefbroker(t, refbrokerConfig(t))
	adm := newAdmin(t, b.Addr())
	createTopic(t, adm, topic, parts)
	o := func(id string) memberOpts {
		return memberOpts{addr: b.Addr(), group: group, topic: topic, instanceID: id,
			balancer: kgo.RangeBalancer(), sessionTimeout: session}
	}
	survivor, gone := newMember(t, "e1", o("e1")), newMember(t, "e2", o("e2"))
	waitSettled(t, adm, group, topic, parts, survivor, gone)
	gen := survivor.generation()

	closed := time.Now()
	gone.close()
	waitFor(t, session+20*time.Second, "the survivor to own every partition", func() bool {
		owned, _, _ := survivor.snapshot()
		return len(owned) == parts
	})
	// Kafka checks expiry against the last heartbeat, which was at most one
	// heartbeat interval (100ms) before the close.
	if took := time.Since(closed); took < session-time.Second {
		t.Errorf("static member's partitions moved %v after it stopped, before its %v session expired", took, session)
	}
	if g := survivor.generation(); g <= gen {
		t.Errorf("survivor's generation %d after the expiry, was %d: no rebalance", g, gen)
	}
	waitSettled(t, adm, group, topic, parts, survivor)
}
