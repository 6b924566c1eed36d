package refbroker

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newShareBroker starts a broker with a one-partition topic and a share
// group that starts at the earliest offset, and returns a plain client.
func newShareBroker(t *testing.T, topic, group string, opts ...func(*Config)) (*Broker, *kgo.Client) {
	t.Helper()
	b := newBroker(t, opts...)
	cl := newClient(t, b, kgo.DefaultProduceTopic(topic))
	if _, err := newAdmin(t, b).CreateTopic(testCtx(t, 10*time.Second), 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	setShareGroupConfig(t, cl, group, "share.auto.offset.reset", "earliest")
	return b, cl
}

// pollUntil polls cl until done reports true for the records seen so far
// or within passes, then returns every record seen.
func pollUntil(t *testing.T, cl *kgo.Client, within time.Duration, done func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	var got []*kgo.Record
	deadline := time.Now().Add(within)
	for !done(got) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v; saw %v", within, values(got))
		}
		got = append(got, pollShare(t, cl, time.Until(deadline))...)
	}
	return got
}

func values(rs []*kgo.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Value) + "#" + strconv.Itoa(int(r.DeliveryCount()))
	}
	return out
}

func atLeast(n int) func([]*kgo.Record) bool {
	return func(rs []*kgo.Record) bool { return len(rs) >= n }
}

func hasValue(v string) func([]*kgo.Record) bool {
	return func(rs []*kgo.Record) bool {
		return slices.ContainsFunc(rs, func(r *kgo.Record) bool { return string(r.Value) == v })
	}
}

// TestShareTwoConsumersSplitPartition: two members of one share group read
// one partition; while every delivered record is accepted, each record
// reaches exactly one of them, and both get some.
func TestShareTwoConsumersSplitPartition(t *testing.T) {
	t.Parallel()
	const n = 300
	b, cl := newShareBroker(t, "t", "g")
	produceValues(t, cl, "t", seqValues(n)...)
	var acksA, acksB ackCollector
	a := newShareConsumer(t, b.Addr(), "g", "t", kgo.ShareMaxRecords(10), kgo.ShareAckCallback(acksA.callback))
	c := newShareConsumer(t, b.Addr(), "g", "t", kgo.ShareMaxRecords(10), kgo.ShareAckCallback(acksB.callback))

	// a takes a first batch and holds it (no poll, so no auto-accept):
	// c must then be served other records, which proves the partition
	// is shared rather than assigned to one member.
	first := pollUntil(t, a, 10*time.Second, atLeast(1))
	fromC := pollUntil(t, c, 10*time.Second, atLeast(1))
	ackAndFlush(t, a, kgo.AckAccept, first...)
	ackAndFlush(t, c, kgo.AckAccept, fromC...)

	var mu sync.Mutex
	seen := map[string]string{}
	record := func(who string, rs []*kgo.Record) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rs {
			if prev, dup := seen[string(r.Value)]; dup {
				t.Errorf("record %s delivered to %s and %s", r.Value, prev, who)
			}
			seen[string(r.Value)] = who
		}
	}
	record("a", first)
	record("c", fromC)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	var wg sync.WaitGroup
	for who, cons := range map[string]*kgo.Client{"a": a, "c": c} {
		wg.Go(func() {
			deadline := time.Now().Add(15 * time.Second)
			for count() < n && time.Now().Before(deadline) {
				rs := pollShare(t, cons, 300*time.Millisecond)
				record(who, rs)
				// Not ackAndFlush: t.Fatal must not run off the test goroutine.
				cons.MarkAcks(kgo.AckAccept, rs...)
				if err := cons.FlushAcks(testCtx(t, 10*time.Second)); err != nil {
					t.Errorf("%s: FlushAcks: %v", who, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := count(); got != n {
		t.Fatalf("delivered %d distinct records, want %d", got, n)
	}
	for _, r := range append(first, fromC...) {
		if r.DeliveryCount() != 1 {
			t.Errorf("record %s delivery count %d, want 1", r.Value, r.DeliveryCount())
		}
	}
	acksA.check(t)
	acksB.check(t)
}

// TestShareReleaseAndReject: a released record comes back with a higher
// delivery count, a rejected one never does.
func TestShareReleaseAndReject(t *testing.T) {
	t.Parallel()
	b, cl := newShareBroker(t, "t", "g")
	produceValues(t, cl, "t", "accept", "release", "reject")
	var acks ackCollector
	c := newShareConsumer(t, b.Addr(), "g", "t", kgo.ShareAckCallback(acks.callback))
	got := pollUntil(t, c, 10*time.Second, atLeast(3))
	if len(got) != 3 {
		t.Fatalf("first deliveries %v, want 3 records", values(got))
	}
	for _, r := range got {
		if r.DeliveryCount() != 1 {
			t.Errorf("first delivery of %s has count %d", r.Value, r.DeliveryCount())
		}
		switch string(r.Value) {
		case "accept":
			r.Ack(kgo.AckAccept)
		case "release":
			r.Ack(kgo.AckRelease)
		case "reject":
			r.Ack(kgo.AckReject)
		}
	}
	if err := c.FlushAcks(testCtx(t, 10*time.Second)); err != nil {
		t.Fatalf("FlushAcks: %v", err)
	}
	again := pollUntil(t, c, 10*time.Second, atLeast(1))
	if got := values(again); !slices.Equal(got, []string{"release#2"}) {
		t.Fatalf("redelivered %v, want [release#2]", got)
	}
	ackAndFlush(t, c, kgo.AckAccept, again...)
	// A marker produced afterwards is the next delivery: had "reject"
	// (or anything else) been available, it would come first or with it.
	produceValues(t, cl, "t", "marker")
	rest := pollUntil(t, c, 10*time.Second, hasValue("marker"))
	if got := values(rest); !slices.Equal(got, []string{"marker#1"}) {
		t.Fatalf("after release and reject, delivered %v, want only [marker#1]", got)
	}
	ackAndFlush(t, c, kgo.AckAccept, rest...)
	acks.check(t)
}

// TestShareLockExpiry: records a member acquires and never acknowledges
// come back after the lock duration, to another member, with delivery
// count 2.
func TestShareLockExpiry(t *testing.T) {
	t.Parallel()
	const lock = 400 * time.Millisecond
	b, cl := newShareBroker(t, "t", "g", func(c *Config) { c.ShareLockDuration = lock })
	produceValues(t, cl, "t", seqValues(5)...)
	holder := joinRawShareMember(t, b.Addr(), "g", "t")
	// Taken before the fetch: the lock starts at the broker, inside the
	// fetch, so "now minus this" can only overstate the time since, and
	// the bound below needs no slack for a loaded machine.
	beforeFetch := time.Now()
	resp := holder.fetch(time.Second)
	if offs := acquiredOffsets(resp); len(offs) != 5 {
		t.Fatalf("holder acquired %v, want offsets 0-4", offs)
	}
	if resp.AcquisitionLockTimeoutMillis != int32(lock.Milliseconds()) {
		t.Errorf("AcquisitionLockTimeoutMillis = %d, want %d", resp.AcquisitionLockTimeoutMillis, lock.Milliseconds())
	}

	c := newShareConsumer(t, b.Addr(), "g", "t")
	got := pollUntil(t, c, 10*time.Second, atLeast(5))
	if elapsed := time.Since(beforeFetch); elapsed < lock {
		t.Errorf("records redelivered %v after acquisition, before the %v lock expired", elapsed, lock)
	}
	want := []string{"0#2", "1#2", "2#2", "3#2", "4#2"}
	if g := values(got); !slices.Equal(g, want) {
		t.Fatalf("redelivered %v, want %v", g, want)
	}
	// The holder's lock is gone and c holds the records now: the
	// holder's late acknowledgement is refused and changes nothing.
	ack := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
	ack.FirstOffset, ack.LastOffset, ack.AcknowledgeTypes = 0, 4, []int8{1}
	late := holder.fetch(0, ack)
	if code := late.Topics[0].Partitions[0].AcknowledgeErrorCode; code != kerr.InvalidRecordState.Code {
		t.Errorf("late ack by the expired holder: code %d, want INVALID_RECORD_STATE", code)
	}
	ackAndFlush(t, c, kgo.AckAccept, got...)
}

// TestShareDisconnectReleases: closing the connection of a member that
// holds records releases them at once, long before the lock would expire.
func TestShareDisconnectReleases(t *testing.T) {
	t.Parallel()
	b, cl := newShareBroker(t, "t", "g") // default 30s lock
	produceValues(t, cl, "t", seqValues(3)...)
	holder := joinRawShareMember(t, b.Addr(), "g", "t")
	if offs := acquiredOffsets(holder.fetch(time.Second)); len(offs) != 3 {
		t.Fatalf("holder acquired %v, want 3 offsets", offs)
	}
	holder.cl.Close()
	c := newShareConsumer(t, b.Addr(), "g", "t")
	// Well within the 30s lock: only the disconnect can release them.
	got := pollUntil(t, c, 10*time.Second, atLeast(3))
	if g := values(got); !slices.Equal(g, []string{"0#2", "1#2", "2#2"}) {
		t.Fatalf("after disconnect, delivered %v", g)
	}
}

// TestShareRenewKeepsLock: a consumer that renews its lock (AckRenew,
// ShareAcknowledge v2 with IsRenewAck) keeps the record past several lock
// durations; another member polling all along never gets it, and it is
// acknowledged normally afterwards.
func TestShareRenewKeepsLock(t *testing.T) {
	t.Parallel()
	const lock = time.Second
	b, cl := newShareBroker(t, "t", "g", func(c *Config) { c.ShareLockDuration = lock })
	produceValues(t, cl, "t", "slow")
	var acks ackCollector
	a := newShareConsumer(t, b.Addr(), "g", "t", kgo.ShareAckCallback(acks.callback))
	held := pollUntil(t, a, 10*time.Second, atLeast(1))

	other := newShareConsumer(t, b.Addr(), "g", "t")
	var stolen []*kgo.Record
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			stolen = append(stolen, pollShare(t, other, 200*time.Millisecond)...)
		}
	})
	renew := time.NewTicker(lock / 10)
	defer renew.Stop()
	until := time.Now().Add(5 * lock / 2)
	for now := range renew.C {
		if now.After(until) {
			break
		}
		ackAndFlush(t, a, kgo.AckRenew, held...)
	}
	close(stop)
	wg.Wait()
	if len(stolen) > 0 {
		t.Fatalf("while renewed, another member got %v", values(stolen))
	}
	ackAndFlush(t, a, kgo.AckAccept, held...)
	acks.check(t)
	// a's client may prefetch the marker and hold it unpolled; closing
	// it releases what it holds (so the marker's delivery count is not
	// compared).
	a.Close()
	produceValues(t, cl, "t", "marker")
	rest := pollUntil(t, other, 10*time.Second, hasValue("marker"))
	var got []string
	for _, r := range rest {
		got = append(got, string(r.Value))
	}
	if !slices.Equal(got, []string{"marker"}) {
		t.Fatalf("after accept delivered %v, want only the marker", values(rest))
	}
}
