package refbroker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// setShareGroupConfig sets one share-group config through
// IncrementalAlterConfigs on a GROUP resource.
func setShareGroupConfig(t testing.TB, cl *kgo.Client, group, name, value string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = name, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(value)
	r.Configs = append(r.Configs, c)
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("IncrementalAlterConfigs %s=%s: %v", name, value, err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("IncrementalAlterConfigs %s=%s: %v", name, value, err)
	}
}

// produceValues produces one record per value to partition 0 of topic
// and waits for all of them.
func produceValues(t testing.TB, cl *kgo.Client, topic string, values ...string) {
	t.Helper()
	rs := make([]*kgo.Record, len(values))
	for i, v := range values {
		rs[i] = &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}
	}
	if err := cl.ProduceSync(testCtx(t, 10*time.Second), rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// seqValues returns "0".."n-1".
func seqValues(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

// newShareConsumer returns a kgo share-group consumer of topic at addr,
// closed at cleanup.
func newShareConsumer(t testing.TB, addr, group, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.MetadataMinAge(50 * time.Millisecond),
		kgo.ShareGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// delivery is one record as a share consumer saw it.
type delivery struct {
	value string
	count int32
}

func (d delivery) String() string { return fmt.Sprintf("%s#%d", d.value, d.count) }

// pollShare polls cl once (bounded by within) and returns the records.
// Fetch errors fail the test.
func pollShare(t testing.TB, cl *kgo.Client, within time.Duration) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	fs := cl.PollFetches(ctx)
	fs.EachError(func(topic string, p int32, err error) {
		if ctx.Err() == nil && err != context.DeadlineExceeded {
			t.Errorf("poll %s/%d: %v", topic, p, err)
		}
	})
	return fs.Records()
}

// ackAndFlush applies status to rs and waits until the broker answered.
func ackAndFlush(t testing.TB, cl *kgo.Client, status kgo.AckStatus, rs ...*kgo.Record) {
	t.Helper()
	if len(rs) == 0 {
		return
	}
	cl.MarkAcks(status, rs...)
	if err := cl.FlushAcks(testCtx(t, 10*time.Second)); err != nil {
		t.Fatalf("FlushAcks: %v", err)
	}
}

// ackCollector records every ShareAckCallback result so a test can assert
// that no acknowledgement failed.
type ackCollector struct {
	mu   sync.Mutex
	errs []error
}

func (a *ackCollector) callback(_ *kgo.Client, rs kgo.ShareAckResults) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range rs {
		if r.Err != nil {
			a.errs = append(a.errs, fmt.Errorf("%s/%d: %w", r.Topic, r.Partition, r.Err))
		}
	}
}

func (a *ackCollector) check(t testing.TB) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, err := range a.errs {
		t.Errorf("acknowledgement failed: %v", err)
	}
}

// sortedDeliveries renders deliveries in a canonical order for comparison.
func sortedDeliveries(ds []delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	sort.Strings(out)
	return out
}

// rawShareMember speaks the share protocol by hand over one kgo client
// connection (node 0), for scenarios a well-behaved consumer never
// produces: holding records without acknowledging, bad session epochs.
type rawShareMember struct {
	t       testing.TB
	cl      *kgo.Client
	br      *kgo.Broker
	group   string
	id      string
	epoch   int32 // member epoch
	session int32 // share session epoch
	topicID [16]byte
}

// joinRawShareMember joins group subscribed to topic and waits for an
// assignment naming it.
func joinRawShareMember(t testing.TB, addr, group, topic string) *rawShareMember {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	m := &rawShareMember{t: t, cl: cl, br: cl.Broker(0), group: group, id: fmt.Sprintf("raw-%016x", rand.Uint64())}
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = group, m.id, 0, []string{topic}
	kresp, err := m.br.Request(testCtx(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("ShareGroupHeartbeat join: %v", err)
	}
	resp := kresp.(*kmsg.ShareGroupHeartbeatResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("ShareGroupHeartbeat join: %v", err)
	}
	if resp.Assignment == nil || len(resp.Assignment.TopicPartitions) != 1 {
		t.Fatalf("join assignment = %+v, want topic %s", resp.Assignment, topic)
	}
	m.epoch, m.topicID = resp.MemberEpoch, resp.Assignment.TopicPartitions[0].TopicID
	return m
}

// fetch sends a ShareFetch for partition 0 at the current session epoch
// with the given acknowledgement batches; a successful response advances
// the session epoch as the client does.
func (m *rawShareMember) fetch(maxWait time.Duration, acks ...kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) *kmsg.ShareFetchResponse {
	m.t.Helper()
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.group, &m.id, m.session
	req.MaxWaitMillis, req.MaxRecords, req.MaxBytes = int32(maxWait.Milliseconds()), 500, 1<<20
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = m.topicID
	rp := kmsg.NewShareFetchRequestTopicPartition()
	rp.AcknowledgementBatches = acks
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := m.br.Request(testCtx(m.t, 10*time.Second), req)
	if err != nil {
		m.t.Fatalf("ShareFetch: %v", err)
	}
	resp := kresp.(*kmsg.ShareFetchResponse)
	if resp.ErrorCode == 0 {
		m.session++
	}
	return resp
}

// acquiredOffsets lists the offsets a ShareFetch response acquired.
func acquiredOffsets(resp *kmsg.ShareFetchResponse) []int64 {
	var out []int64
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			for _, a := range p.AcquiredRecords {
				for o := a.FirstOffset; o <= a.LastOffset; o++ {
					out = append(out, o)
				}
			}
		}
	}
	return out
}

// newClientAddr returns a kgo client for any broker address, closed at
// cleanup.
func newClientAddr(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}
