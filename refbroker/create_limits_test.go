package refbroker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createTopicsRequest builds a CreateTopics request of version v for
// topics prefix-0.. with the given partition counts.
func createTopicsRequest(v int16, prefix string, partitions ...int32) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis = v, 30_000
	for i, n := range partitions {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = fmt.Sprintf("%s-%d", prefix, i), n, 1
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// topicCodes returns each topic's error code, in request order.
func topicCodes(resp *kmsg.CreateTopicsResponse) []int16 {
	codes := make([]int16, len(resp.Topics))
	for i, st := range resp.Topics {
		codes[i] = st.ErrorCode
	}
	return codes
}

// partitionDirs counts the partition directories on disk: what the broker
// really created, whatever it answered.
func partitionDirs(t *testing.T, b *Broker) int {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(b.cfg.DataDir, topicsDirName, "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			n++
		}
	}
	return n
}

// stillServes checks that another client can produce and consume.
func stillServes(t *testing.T, b *Broker) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b, kgo.ConsumeTopics("bystander"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if b.topics.lookup("bystander") == nil {
		if _, err := newAdmin(t, b).CreateTopic(ctx, 1, 1, nil, "bystander"); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			t.Fatalf("create bystander topic: %v", err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "bystander", Value: []byte("still here")}).FirstErr(); err != nil {
		t.Fatalf("produce on another connection: %v", err)
	}
	if fs := cl.PollRecords(ctx, 1); fs.Err() != nil || fs.NumRecords() == 0 {
		t.Fatalf("consume on another connection: %v (%d records)", fs.Err(), fs.NumRecords())
	}
}

// TestCreateTopicsPerRequestLimits: topics past MaxCreateTopicsPerRequest
// or MaxCreatePartitionsPerRequest in one request are refused with
// POLICY_VIOLATION and not created; the broker keeps serving.
func TestCreateTopicsPerRequestLimits(t *testing.T) {
	t.Parallel()
	const (
		ok     = 0
		policy = 44 // POLICY_VIOLATION
	)
	tests := []struct {
		name       string
		partitions []int32
		want       []int16
	}{
		// Five topics fit; the sixth passes the topic limit.
		{"topics", []int32{1, 1, 1, 1, 1, 1, 1}, []int16{ok, ok, ok, ok, ok, policy, policy}},
		// 5+5 fit in 12 partitions, 5 more do not, 2 still do.
		{"partitions", []int32{5, 5, 5, 2}, []int16{ok, ok, policy, ok}},
		// One topic larger than the whole budget.
		{"one big topic", []int32{13}, []int16{policy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBroker(t, func(c *Config) { c.MaxCreateTopicsPerRequest, c.MaxCreatePartitionsPerRequest = 5, 12 })
			resp := rawRequest(t, b, createTopicsRequest(7, "lim", tt.partitions...)).(*kmsg.CreateTopicsResponse)
			got := topicCodes(resp)
			want := int32(0)
			for i, code := range got {
				if code != tt.want[i] {
					t.Fatalf("codes %v, want %v (%v)", got, tt.want, resp.Topics[i].ErrorMessage)
				}
				if code == ok {
					want += tt.partitions[i]
				}
			}
			if n := partitionDirs(t, b); n != int(want) {
				t.Fatalf("%d partition directories on disk, want the %d of the accepted topics", n, want)
			}
			stillServes(t, b)
		})
	}
}

// TestCreationQuota: past PartitionCreationsPerMinute, topics and
// partition increases are refused with THROTTLING_QUOTA_EXCEEDED and the
// throttle time until the quota is out of debt (KIP-599), older versions
// with POLICY_VIOLATION, auto-creation with LEADER_NOT_AVAILABLE;
// ValidateOnly takes no quota; the broker keeps serving.
func TestCreationQuota(t *testing.T) {
	t.Parallel()
	// 10 a minute: 1 token every 6 s, so the test's own time refills
	// nothing that matters.
	b := newBroker(t, func(c *Config) { c.PartitionCreationsPerMinute = 10 })
	stillServes(t, b) // takes 1: 9 left

	// 4+4 take it to 1; the third goes into debt (-3); the fourth is
	// refused, with the time 3 tokens take (18 s).
	resp := rawRequest(t, b, createTopicsRequest(7, "q", 4, 4, 4, 4)).(*kmsg.CreateTopicsResponse)
	const throttled = 89 // THROTTLING_QUOTA_EXCEEDED
	if got := topicCodes(resp); got[0] != 0 || got[1] != 0 || got[2] != 0 || got[3] != throttled {
		t.Fatalf("codes %v, want the first three created and the fourth throttled", got)
	}
	if ms := resp.ThrottleMillis; ms < 16_000 || ms > 18_001 {
		t.Fatalf("ThrottleMillis %d, want about 18000 (3 partitions of debt at 10 a minute)", ms)
	}
	if n := partitionDirs(t, b); n != 1+12 {
		t.Fatalf("%d partition directories, want 13", n)
	}

	// CreateTopics before v6 does not know the code.
	old := rawRequest(t, b, createTopicsRequest(5, "old", 1)).(*kmsg.CreateTopicsResponse)
	if got := topicCodes(old); got[0] != 44 {
		t.Fatalf("v5 codes %v, want POLICY_VIOLATION", got)
	}
	// Validation takes no quota.
	vo := createTopicsRequest(7, "vo", 2)
	vo.ValidateOnly = true
	if got := topicCodes(rawRequest(t, b, vo).(*kmsg.CreateTopicsResponse)); got[0] != 0 {
		t.Fatalf("validate-only codes %v, want success", got)
	}
	// Adding partitions counts too.
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Version, cp.TimeoutMillis = 3, 30_000
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = "q-0", 6
	cp.Topics = append(cp.Topics, cpt)
	cpr := rawRequest(t, b, cp).(*kmsg.CreatePartitionsResponse)
	if cpr.Topics[0].ErrorCode != throttled || cpr.ThrottleMillis < 16_000 {
		t.Fatalf("CreatePartitions: code %d throttle %d, want THROTTLING_QUOTA_EXCEEDED with the throttle time", cpr.Topics[0].ErrorCode, cpr.ThrottleMillis)
	}
	// Auto-creation answers LEADER_NOT_AVAILABLE, so clients ask again.
	md := kmsg.NewPtrMetadataRequest()
	md.Version, md.AllowAutoTopicCreation = 12, true
	mdt := kmsg.NewMetadataRequestTopic()
	mdt.Topic = kmsg.StringPtr("auto-later")
	md.Topics = append(md.Topics, mdt)
	if mr := rawRequest(t, b, md).(*kmsg.MetadataResponse); mr.Topics[0].ErrorCode != kerr.LeaderNotAvailable.Code {
		t.Fatalf("auto-create while throttled: code %d, want LEADER_NOT_AVAILABLE", mr.Topics[0].ErrorCode)
	}
	if n := partitionDirs(t, b); n != 13 {
		t.Fatalf("%d partition directories after the refused requests, want still 13", n)
	}
	// Existing topics are unaffected.
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "q-1", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce to an existing topic while throttled: %v", err)
	}
}

// TestCreateManyTopicsOneMetadataWrite: a request creating many topics,
// or adding partitions to many, writes the metadata file once, not once
// per topic; so does a Metadata request auto-creating many.
func TestCreateManyTopicsOneMetadataWrite(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	const n = 100
	parts := make([]int32, n)
	for i := range parts {
		parts[i] = 1
	}
	before := b.topics.metaWrites.Load()
	resp := rawRequest(t, b, createTopicsRequest(7, "bulk", parts...)).(*kmsg.CreateTopicsResponse)
	for i, code := range topicCodes(resp) {
		if code != 0 {
			t.Fatalf("topic %d: code %d (%v)", i, code, resp.Topics[i].ErrorMessage)
		}
	}
	if w := b.topics.metaWrites.Load() - before; w != 1 {
		t.Fatalf("CreateTopics of %d topics wrote the metadata %d times, want 1", n, w)
	}

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Version, cp.TimeoutMillis = 3, 30_000
	for i := range n {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = fmt.Sprintf("bulk-%d", i), 2
		cp.Topics = append(cp.Topics, rt)
	}
	before = b.topics.metaWrites.Load()
	cpr := rawRequest(t, b, cp).(*kmsg.CreatePartitionsResponse)
	for _, st := range cpr.Topics {
		if st.ErrorCode != 0 {
			t.Fatalf("CreatePartitions %s: code %d", st.Topic, st.ErrorCode)
		}
	}
	if w := b.topics.metaWrites.Load() - before; w != 1 {
		t.Fatalf("CreatePartitions of %d topics wrote the metadata %d times, want 1", n, w)
	}

	md := kmsg.NewPtrMetadataRequest()
	md.Version, md.AllowAutoTopicCreation = 12, true
	for i := range 30 {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(fmt.Sprintf("auto-%d", i))
		md.Topics = append(md.Topics, rt)
	}
	before = b.topics.metaWrites.Load()
	mr := rawRequest(t, b, md).(*kmsg.MetadataResponse)
	for _, mt := range mr.Topics {
		if mt.ErrorCode != 0 || len(mt.Partitions) != 1 {
			t.Fatalf("auto-created %v: code %d, %d partitions", mt.Topic, mt.ErrorCode, len(mt.Partitions))
		}
	}
	if w := b.topics.metaWrites.Load() - before; w != 1 {
		t.Fatalf("Metadata auto-creating 30 topics wrote the metadata %d times, want 1", w)
	}
	// Every topic the one write named is served.
	if got := len(b.topics.all()); got != n+30 {
		t.Fatalf("%d topics, want %d", got, n+30)
	}
}

// TestCreateQuotaBucket: the token bucket on a fake clock.
func TestCreateQuotaBucket(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	q := newCreateQuota(60, func() time.Time { return now }) // 1 a second, burst 60
	steps := []struct {
		advance  time.Duration
		n        int32
		throttle time.Duration // 0: admitted
	}{
		{0, 50, 0},                             // 60 -> 10
		{0, 30, 0},                             // not in debt: admitted, 10 -> -20
		{0, 1, 20 * time.Second},               // in debt: refused, 20 s to pay it
		{15 * time.Second, 1, 5 * time.Second}, // -5: still refused
		{5 * time.Second, 1, 0},                // 0 is not debt: admitted, -> -1
		{time.Hour, 60, 0},                     // refills to the burst only: 60 -> 0
		{0, 1, 0},                              // 0 -> -1
		{0, 1, time.Second},                    // -1: refused for 1 s
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		d, err := q.admit(s.n)
		if d != s.throttle || (err == nil) != (s.throttle == 0) {
			t.Fatalf("step %d: throttle %v err %v, want throttle %v", i, d, err, s.throttle)
		}
	}
	if q := newCreateQuota(-1, time.Now); q != nil {
		t.Fatal("-1 must disable the quota")
	}
}

// TestBulkCreateDoesNotStallOtherClients: while one client creates
// many topics, another starts an idempotent producer (InitProducerID
// reserves IDs in the metadata file) and produces and consumes.
func TestBulkCreateDoesNotStallOtherClients(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 60*time.Second)
	if _, err := newAdmin(t, b).CreateTopic(ctx, 1, 1, nil, "bystander"); err != nil {
		t.Fatalf("create: %v", err)
	}
	parts := make([]int32, 200)
	for i := range parts {
		parts[i] = 1
	}
	c := dialRaw(t, b)
	if _, err := c.Write(requestFrame(createTopicsRequest(7, "bulk", parts...), 1)); err != nil {
		t.Fatalf("write: %v", err)
	}
	waitFor(t, 10*time.Second, "the bulk creation to start", func() bool { return partitionDirs(t, b) > 1 })
	stillServes(t, b) // kgo's producer is idempotent: it asks InitProducerID first
	if n := len(b.topics.all()); n != 1 {
		t.Logf("the bulk creation finished before the other client was served (%d topics): the test proved nothing this run", n)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	if _, body := readResponse(t, c); len(body) == 0 {
		t.Fatal("no CreateTopics response")
	}
}
