package refbroker

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestShareRestartKeepsState: acknowledgements survive a restart on the
// same data directory (accepted and rejected records are not redelivered)
// and records that were acquired but not acknowledged are delivered
// again, their delivery count kept.
func TestShareRestartKeepsState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	onDir := func(c *Config) { c.DataDir = dir }
	b, cl := newShareBroker(t, "t", "g", onDir)
	produceValues(t, cl, "t", seqValues(10)...)
	holder := joinRawShareMember(t, b.Addr(), "g", "t")
	if offs := acquiredOffsets(holder.fetch(time.Second)); len(offs) != 10 {
		t.Fatalf("acquired %v, want offsets 0-9", offs)
	}
	// Accept 0-3, reject 4, leave 5-9 acquired.
	accept := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
	accept.FirstOffset, accept.LastOffset, accept.AcknowledgeTypes = 0, 4, []int8{1, 1, 1, 1, 3}
	resp := holder.fetch(0, accept)
	if code := resp.Topics[0].Partitions[0].AcknowledgeErrorCode; code != 0 {
		t.Fatalf("ack: %v", kerr.ErrorForCode(code))
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b2 := newBroker(t, onDir)
	c := newShareConsumer(t, b2.Addr(), "g", "t")
	got := pollUntil(t, c, 10*time.Second, atLeast(5))
	want := []string{"5#2", "6#2", "7#2", "8#2", "9#2"}
	if g := values(got); !slices.Equal(g, want) {
		t.Fatalf("after restart delivered %v, want %v", g, want)
	}
	ackAndFlush(t, c, kgo.AckAccept, got...)
	// Nothing else is left: the next delivery is a new record.
	produceValues(t, newClient(t, b2, kgo.DefaultProduceTopic("t")), "t", "marker")
	rest := pollUntil(t, c, 10*time.Second, hasValue("marker"))
	if g := values(rest); !slices.Equal(g, []string{"marker#1"}) {
		t.Fatalf("after restart and acks, delivered %v, want only [marker#1]", g)
	}
	ackAndFlush(t, c, kgo.AckAccept, rest...)
}

// TestShareDeliveryLimitArchivesPoison: a record that is always released
// is delivered exactly the delivery-count limit times, then archived;
// the records around it are unaffected.
func TestShareDeliveryLimitArchivesPoison(t *testing.T) {
	t.Parallel()
	const limit = 3
	b, cl := newShareBroker(t, "t", "g", func(c *Config) { c.ShareDeliveryLimit = limit })
	produceValues(t, cl, "t", "good-1", "poison", "good-2")
	c := newShareConsumer(t, b.Addr(), "g", "t")
	var poison []int32
	var good []string
	deadline := time.Now().Add(15 * time.Second)
	for len(poison) < limit || len(good) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: poison deliveries %v, good %v", poison, good)
		}
		for _, r := range pollShare(t, c, time.Until(deadline)) {
			if string(r.Value) == "poison" {
				poison = append(poison, r.DeliveryCount())
				r.Ack(kgo.AckRelease)
				continue
			}
			good = append(good, string(r.Value))
			r.Ack(kgo.AckAccept)
		}
		if err := c.FlushAcks(testCtx(t, 10*time.Second)); err != nil {
			t.Fatalf("FlushAcks: %v", err)
		}
	}
	produceValues(t, cl, "t", "marker")
	rest := pollUntil(t, c, 10*time.Second, hasValue("marker"))
	if g := values(rest); !slices.Equal(g, []string{"marker#1"}) {
		t.Fatalf("after %d releases delivered %v, want only [marker#1] (poison archived)", limit, g)
	}
	ackAndFlush(t, c, kgo.AckAccept, rest...)
	if !slices.Equal(poison, []int32{1, 2, 3}) {
		t.Errorf("poison delivery counts %v, want [1 2 3]", poison)
	}
	if slices.Sort(good); !slices.Equal(good, []string{"good-1", "good-2"}) {
		t.Errorf("good records %v", good)
	}
}

// TestShareAutoOffsetReset: without configuration a share group starts at
// the end of the log (latest); invalid group configs are refused.
func TestShareAutoOffsetReset(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	cl := newClient(t, b, kgo.DefaultProduceTopic("t"))
	if _, err := newAdmin(t, b).CreateTopic(testCtx(t, 10*time.Second), 1, 1, nil, "t"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	produceValues(t, cl, "t", "before")
	holder := joinRawShareMember(t, b.Addr(), "latest", "t")
	if offs := acquiredOffsets(holder.fetch(0)); len(offs) != 0 {
		t.Fatalf("latest group acquired %v before anything new was produced", offs)
	}
	produceValues(t, cl, "t", "after")
	if offs := acquiredOffsets(holder.fetch(time.Second)); !slices.Equal(offs, []int64{1}) {
		t.Fatalf("latest group acquired %v, want [1]", offs)
	}

	for _, tc := range []struct{ name, value string }{
		{"share.auto.offset.reset", "sometimes"}, // not earliest/latest
		{"share.record.lock.duration.ms", "0"},   // must be positive
		{"share.delivery.count.limit", "many"},   // not a number
		{"share.session.timeout.ms", "1000"},     // not supported
	} {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "latest"
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Value = tc.name, kmsg.StringPtr(tc.value)
		r.Configs = append(r.Configs, cfg)
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
		if err != nil {
			t.Fatalf("IncrementalAlterConfigs: %v", err)
		}
		if code := resp.Resources[0].ErrorCode; code != kerr.InvalidConfig.Code {
			t.Errorf("%s=%s: code %d, want INVALID_CONFIG", tc.name, tc.value, code)
		}
	}
}

// TestShareSessionEpochs: the share session is checked per request.
func TestShareSessionEpochs(t *testing.T) {
	t.Parallel()
	b, cl := newShareBroker(t, "t", "g")
	produceValues(t, cl, "t", seqValues(2)...)
	m := joinRawShareMember(t, b.Addr(), "g", "t")

	// An unknown session (epoch > 0 before any epoch 0).
	m.session = 3
	if resp := m.fetch(0); resp.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("fetch on no session: code %d, want SHARE_SESSION_NOT_FOUND", resp.ErrorCode)
	}
	// Opening a session with acknowledgements is refused.
	m.session = 0
	ack := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
	ack.FirstOffset, ack.LastOffset, ack.AcknowledgeTypes = 0, 0, []int8{1}
	if resp := m.fetch(0, ack); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("epoch 0 with acks: code %d, want INVALID_REQUEST", resp.ErrorCode)
	}
	if offs := acquiredOffsets(m.fetch(time.Second)); len(offs) != 2 {
		t.Fatalf("acquired %v, want 2 offsets", offs)
	}
	if resp := m.fetch(0); resp.ErrorCode != 0 {
		t.Fatalf("incremental fetch: code %d", resp.ErrorCode)
	}
	// A stale epoch is refused, the current one accepted.
	m.session--
	if resp := m.fetch(0); resp.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("stale epoch: code %d, want INVALID_SHARE_SESSION_EPOCH", resp.ErrorCode)
	}
	m.session++
	// ShareAcknowledge shares the session and its epoch.
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.group, &m.id, m.session
	rt := kmsg.NewShareAcknowledgeRequestTopic()
	rt.TopicID = m.topicID
	rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
	bat := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
	bat.FirstOffset, bat.LastOffset, bat.AcknowledgeTypes = 0, 1, []int8{1}
	rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, bat)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := m.br.Request(testCtx(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("ShareAcknowledge: %v", err)
	}
	aresp := kresp.(*kmsg.ShareAcknowledgeResponse)
	if aresp.ErrorCode != 0 || aresp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("ShareAcknowledge: top %d partition %d", aresp.ErrorCode, aresp.Topics[0].Partitions[0].ErrorCode)
	}
	m.session++
	// Acknowledging them again: no longer acquired by anyone.
	resp := m.fetch(0, ack)
	if resp.ErrorCode != 0 {
		t.Fatalf("fetch after ShareAcknowledge: code %d", resp.ErrorCode)
	}
	// Offset 0 is below the start offset now: already finished, ignored.
	if code := resp.Topics[0].Partitions[0].AcknowledgeErrorCode; code != 0 {
		t.Errorf("ack below the start offset: code %d, want 0", code)
	}
}

// TestShareGroupDescribe: kadm-free check of ShareGroupDescribe: members,
// their assignment (every partition) and unknown groups.
func TestShareGroupDescribe(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	cl := newClient(t, b)
	if _, err := newAdmin(t, b).CreateTopic(testCtx(t, 10*time.Second), 3, 1, nil, "t"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	m1 := joinRawShareMember(t, b.Addr(), "g", "t").id
	m2 := joinRawShareMember(t, b.Addr(), "g", "t").id
	req := kmsg.NewPtrShareGroupDescribeRequest()
	req.GroupIDs = []string{"g", "nope"}
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("ShareGroupDescribe: %v", err)
	}
	g, missing := resp.Groups[0], resp.Groups[1]
	if g.ErrorCode != 0 || g.GroupState != "Stable" || len(g.Members) != 2 {
		t.Fatalf("group g: code %d state %s members %d", g.ErrorCode, g.GroupState, len(g.Members))
	}
	for _, m := range g.Members {
		if m.MemberID != m1 && m.MemberID != m2 {
			t.Errorf("unexpected member %s", m.MemberID)
		}
		a := m.Assignment.TopicPartitions
		if len(a) != 1 || a[0].Topic != "t" || !slices.Equal(a[0].Partitions, []int32{0, 1, 2}) {
			t.Errorf("member %s assignment %+v, want every partition of t", m.MemberID, a)
		}
	}
	if missing.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("unknown group: code %d, want GROUP_ID_NOT_FOUND", missing.ErrorCode)
	}
}
