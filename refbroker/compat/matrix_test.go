package compat

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/refbroker"
)

// rec is one record as every client sees it.
type rec struct {
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Value     string            `json:"value"`
	Headers   map[string]string `json:"headers"`
	// ProducerID is set only by the reference client's reads: -1 for
	// a non-idempotent producer.
	ProducerID int64 `json:"-"`
}

// codecs are the compressions every client must produce and consume;
// "none" is the uncompressed case.
var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// adminResult is what a client's admin scenario saw.
type adminResult struct {
	// CreatedPartitions is the partition count the client's describe
	// reported for the topic it created.
	CreatedPartitions int `json:"created_partitions"`
	// Groups are the group IDs the client listed.
	Groups []string `json:"groups"`
	// GroupState is the described state of env.group ("Empty", "Stable").
	GroupState string `json:"group_state"`
	// TimeOffset is the offset the client got for adminTimestamp.
	TimeOffset int64 `json:"time_offset"`
}

// client is one Kafka client under test. Each scenario func is the step
// done with that client; nil means the client cannot do it, and why is
// in notes, which the docs matrix repeats.
type client struct {
	name string
	// need skips (outside CI) or fails (CI=true) when the client's tool
	// is missing.
	need func(t *testing.T)
	// idempotent is true when produce enables the idempotent producer.
	idempotent bool
	// produce writes recs to partition 0 of topic with acks=all and the
	// codec, and returns once all are acknowledged.
	produce func(e *env, topic, codec string, recs []rec) error
	// consume reads partition 0 of topic from the beginning and returns
	// when the client reports the end of the partition.
	consume func(e *env, topic string) ([]rec, error)
	// reset reads partition 0 of topic starting from offset outOfRange
	// (for group clients: group has committed that offset) and must
	// end up, by the client's own reset to earliest, reading every
	// record to the end.
	reset func(e *env, topic, group string) ([]rec, error)
	// resume consumes the first n records of partition 0 in group,
	// commits and closes; then a new member of group reads to the end.
	resume func(e *env, topic, group string, n int) (first, rest []rec, err error)
	// rebalance runs two members of group on topic (rebalancePartitions
	// partitions): the first alone, then the second joins. It returns
	// the first member's assignment after the second joined, and the
	// second's, and every record both consumed.
	rebalance func(e *env, topic, group string) (a, b []int32, got []rec, err error)
	// admin creates adminTopic with 3 partitions and describes it, lists
	// groups, describes env-prepared group, looks up the offset of
	// adminTimestamp on tsTopic, and deletes adminTopic.
	admin func(e *env, adminTopic, group, tsTopic string) (adminResult, error)
	// notes says why a scenario func is nil, or how the client does it.
	notes map[string]string
}

const (
	outOfRange          = 1000
	rebalancePartitions = 4
	// rebalanceRecords are the records in each rebalance partition.
	rebalanceRecords = 3
	// memberA and memberB are the client IDs of the rebalance members, by
	// which the coordinator's view of their assignments is found.
	memberA, memberB = "member-a", "member-b"
	// tsBase is the timestamp of the first record of the timestamp
	// topic; record i has tsBase + i*1000 ms.
	tsBase = 1_700_000_000_000
	// adminTimestamp falls between records 2 and 3, so the answer is 3.
	adminTimestamp = tsBase + 2500
)

// clients is filled by each client's file in init.
var clients []*client

func register(c *client) { clients = append(clients, c) }

// env is one client's broker and reference client.
type env struct {
	t    *testing.T
	ctx  context.Context
	addr string
	ref  *kgo.Client
	adm  *kadm.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	addr := startBroker(t, refbroker.Security{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	ref, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatalf("reference client: %v", err)
	}
	t.Cleanup(ref.Close)
	return &env{t: t, ctx: ctx, addr: addr, ref: ref, adm: kadm.NewClient(ref)}
}

// startBroker starts an embedded refbroker with sec (PLAINTEXT when
// zero), closed with t, and returns its address. REFBROKER_TEST_LOG
// turns its debug log on.
func startBroker(t *testing.T, sec refbroker.Security) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("REFBROKER_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := refbroker.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: logger, Security: sec}
	cfg.Storage.SegmentBytes = 1 << 20
	b, err := refbroker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start refbroker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close refbroker: %v", err)
		}
	})
	return b.Addr()
}

// createTopic creates topic with n partitions through the reference client.
func (e *env) createTopic(topic string, n int32) {
	e.t.Helper()
	resp, err := e.adm.CreateTopic(e.ctx, n, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		e.t.Fatalf("create topic %s: %v", topic, err)
	}
}

// split returns the partitions of topic the coordinator has assigned to
// the members of group with client IDs memberA and memberB, and whether
// both have some and together all rebalancePartitions.
func (e *env) split(group, topic string) (a, b []int32, ok bool) {
	e.t.Helper()
	described, err := e.adm.DescribeGroups(e.ctx, group)
	if err != nil {
		e.t.Fatalf("describe group %s: %v", group, err)
	}
	for _, m := range described[group].Members {
		ca, isConsumer := m.Assigned.AsConsumer()
		if !isConsumer {
			continue
		}
		var ps []int32
		for _, t := range ca.Topics {
			if t.Topic == topic {
				ps = append(ps, t.Partitions...)
			}
		}
		switch m.ClientID {
		case memberA:
			a = append(a, ps...)
		case memberB:
			b = append(b, ps...)
		}
	}
	slices.Sort(a)
	slices.Sort(b)
	return a, b, len(a) > 0 && len(b) > 0 && len(a)+len(b) == rebalancePartitions
}

// sample returns n records with distinct values and two headers each.
// Values are long and repetitive: librdkafka sends a batch uncompressed
// when compressing would not make it smaller.
func sample(prefix string, n int) []rec {
	out := make([]rec, n)
	for i := range out {
		out[i] = rec{Offset: int64(i), Value: fmt.Sprintf("%s-%d-%s", prefix, i, strings.Repeat("compressible", 20)),
			Headers: map[string]string{"h1": fmt.Sprintf("v%d", i), "trace": prefix}}
	}
	return out
}

// produceRef writes recs to partition p of topic with the reference
// client, compressed with codec, with timestamps tsBase + i s when ts.
func (e *env) produceRef(topic string, p int32, codec string, recs []rec, ts bool) {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgoCodec(codec)))
	if err != nil {
		e.t.Fatalf("producer: %v", err)
	}
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Topic: topic, Partition: p, Value: []byte(r.Value)}
		for _, k := range sortedKeys(r.Headers) {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: k, Value: []byte(r.Headers[k])})
		}
		if ts {
			kr.Timestamp = time.UnixMilli(tsBase + int64(i)*1000)
		}
		krs[i] = kr
	}
	if err := cl.ProduceSync(e.ctx, krs...).FirstErr(); err != nil {
		e.t.Fatalf("reference produce to %s: %v", topic, err)
	}
}

func kgoCodec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// codecIDs are the batch attribute values of the codecs.
var codecIDs = map[string]int8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

// readRef reads partition 0 of topic to its end with the reference client
// and returns the records and the codec of every stored batch.
func (e *env) readRef(topic string) ([]rec, []int8) {
	e.t.Helper()
	offsets, err := e.adm.ListEndOffsets(e.ctx, topic)
	if err != nil {
		e.t.Fatalf("end offsets of %s: %v", topic, err)
	}
	end, _ := offsets.Lookup(topic, 0)
	if end.Err != nil {
		e.t.Fatalf("end offset of %s: %v", topic, end.Err)
	}
	h := &codecHook{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.WithHooks(h))
	if err != nil {
		e.t.Fatalf("consumer: %v", err)
	}
	defer cl.Close()
	var out []rec
	for int64(len(out)) < end.Offset {
		fs := cl.PollFetches(e.ctx)
		if err := e.ctx.Err(); err != nil {
			e.t.Fatalf("reading %s back: %d of %d records: %v", topic, len(out), end.Offset, err)
		}
		fs.EachError(func(t string, p int32, err error) { e.t.Fatalf("reading %s back: %v", t, err) })
		fs.EachRecord(func(r *kgo.Record) { out = append(out, fromKgo(r)) })
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return out, slices.Clone(h.codecs)
}

// codecHook records the compression of every fetched batch.
type codecHook struct {
	mu     sync.Mutex
	codecs []int8
}

func (h *codecHook) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.codecs = append(h.codecs, int8(m.CompressionType))
}

func fromKgo(r *kgo.Record) rec {
	out := rec{Partition: r.Partition, Offset: r.Offset, Value: string(r.Value), Headers: map[string]string{}, ProducerID: r.ProducerID}
	for _, h := range r.Headers {
		out.Headers[h.Key] = string(h.Value)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// sameRecs fails unless got holds want's values, offsets and headers in
// order (offsets are checked only when want's are set by position).
func sameRecs(t *testing.T, what string, got, want []rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d records, want %d:\n got %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Value != w.Value || g.Offset != w.Offset || !mapsEqual(g.Headers, w.Headers) {
			t.Fatalf("%s: record %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// scenarios are the matrix's columns, in order.
var scenarios = []struct {
	name string
	run  func(t *testing.T, c *client)
}{
	{"produce", testProduce},
	{"consume", testConsume},
	{"reset", testReset},
	{"resume", testResume},
	{"rebalance", testRebalance},
	{"admin", testAdmin},
}

// has reports whether c implements scenario name.
func (c *client) has(name string) bool {
	switch name {
	case "produce":
		return c.produce != nil
	case "consume":
		return c.consume != nil
	case "reset":
		return c.reset != nil
	case "resume":
		return c.resume != nil
	case "rebalance":
		return c.rebalance != nil
	case "admin":
		return c.admin != nil
	}
	panic("unknown scenario " + name)
}

// TestMatrix runs every scenario a client implements. A scenario a client
// cannot do is not run and is shown in docs/refbroker.md with the reason
// (TestMatrixDocumented).
func TestMatrix(t *testing.T) {
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			c.need(t)
			for _, s := range scenarios {
				if !c.has(s.name) {
					continue
				}
				t.Run(s.name, func(t *testing.T) { s.run(t, c) })
			}
		})
	}
}

// testProduce: the client produces records with headers in every codec;
// the reference client reads them back, and each stored batch carries the
// codec asked for (so the client really compressed and the broker kept it).
func testProduce(t *testing.T, c *client) {
	e := newEnv(t)
	for _, codec := range codecs {
		topic := "produce-" + codec
		e.createTopic(topic, 1)
		want := sample(codec, 5)
		if err := c.produce(e, topic, codec, want); err != nil {
			t.Fatalf("%s produce %s: %v", c.name, codec, err)
		}
		got, batches := e.readRef(topic)
		sameRecs(t, codec, got, want)
		for _, id := range batches {
			if id != codecIDs[codec] {
				t.Fatalf("%s: stored batch codec %d, want %d", codec, id, codecIDs[codec])
			}
		}
		for _, r := range got {
			if (r.ProducerID >= 0) != c.idempotent {
				t.Fatalf("%s: record %d has producer ID %d; client idempotent: %v", codec, r.Offset, r.ProducerID, c.idempotent)
			}
		}
	}
}

// testConsume: the reference client produces in every codec, the client
// reads from the beginning until it sees the end of the partition.
func testConsume(t *testing.T, c *client) {
	e := newEnv(t)
	topic := "consume"
	e.createTopic(topic, 1)
	var want []rec
	for _, codec := range codecs {
		rs := sample(codec, 3)
		for i := range rs {
			rs[i].Offset = int64(len(want) + i)
		}
		e.produceRef(topic, 0, codec, rs, false)
		want = append(want, rs...)
	}
	got, err := c.consume(e, topic)
	if err != nil {
		t.Fatalf("%s consume: %v", c.name, err)
	}
	sameRecs(t, "consume", got, want)
}

// testReset: the client starts beyond the end (OFFSET_OUT_OF_RANGE) and
// its reset policy takes it back to the earliest offset.
func testReset(t *testing.T, c *client) {
	e := newEnv(t)
	topic, group := "reset", "reset-group"
	e.createTopic(topic, 1)
	want := sample("reset", 4)
	e.produceRef(topic, 0, "none", want, false)
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: outOfRange, LeaderEpoch: -1})
	if err := e.adm.CommitAllOffsets(e.ctx, group, os); err != nil {
		t.Fatalf("commit out-of-range offset: %v", err)
	}
	got, err := c.reset(e, topic, group)
	if err != nil {
		t.Fatalf("%s reset: %v", c.name, err)
	}
	sameRecs(t, "after reset", got, want)
}

// testResume: the client consumes part of a partition in a group and
// commits; a new member resumes exactly after the commit.
func testResume(t *testing.T, c *client) {
	e := newEnv(t)
	topic, group := "resume", "resume-group"
	e.createTopic(topic, 1)
	want := sample("resume", 10)
	e.produceRef(topic, 0, "none", want, false)
	first, rest, err := c.resume(e, topic, group, 4)
	if err != nil {
		t.Fatalf("%s resume: %v", c.name, err)
	}
	sameRecs(t, "first member", first, want[:4])
	sameRecs(t, "second member", rest, want[4:])
	committed, err := e.adm.FetchOffsets(e.ctx, group)
	if err != nil {
		t.Fatalf("fetch committed offsets: %v", err)
	}
	if o, ok := committed.Lookup(topic, 0); !ok || o.At < 4 {
		t.Fatalf("committed offset %+v, want at least 4", o)
	}
}

// testRebalance: a second member joins; the partitions are split between
// the two and every record is consumed.
func testRebalance(t *testing.T, c *client) {
	e := newEnv(t)
	topic, group := "rebalance", "rebalance-group"
	e.createTopic(topic, rebalancePartitions)
	var want []string
	for p := range int32(rebalancePartitions) {
		rs := sample(fmt.Sprintf("p%d", p), rebalanceRecords)
		e.produceRef(topic, p, "none", rs, false)
		for _, r := range rs {
			want = append(want, r.Value)
		}
	}
	a, b, got, err := c.rebalance(e, topic, group)
	if err != nil {
		t.Fatalf("%s rebalance: %v", c.name, err)
	}
	all := append(slices.Clone(a), b...)
	slices.Sort(all)
	if len(a) == 0 || len(b) == 0 || !slices.Equal(all, []int32{0, 1, 2, 3}) {
		t.Fatalf("assignments after the join: first %v second %v, want a split of 0-3", a, b)
	}
	seen := map[string]bool{}
	for _, r := range got {
		seen[r.Value] = true
	}
	for _, v := range want {
		if !seen[v] {
			t.Fatalf("record %q never consumed; got %d records", v, len(got))
		}
	}
}

// testAdmin: create, describe and delete a topic, list and describe
// groups, look up an offset by timestamp.
func testAdmin(t *testing.T, c *client) {
	e := newEnv(t)
	group, tsTopic := "admin-group", "timestamps"
	e.createTopic(tsTopic, 1)
	e.produceRef(tsTopic, 0, "none", sample("ts", 5), true)
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: tsTopic, Partition: 0, At: 2, LeaderEpoch: -1})
	if err := e.adm.CommitAllOffsets(e.ctx, group, os); err != nil {
		t.Fatalf("commit: %v", err)
	}
	res, err := c.admin(e, "admin-created", group, tsTopic)
	if err != nil {
		t.Fatalf("%s admin: %v", c.name, err)
	}
	if res.CreatedPartitions != 3 {
		t.Errorf("created topic described with %d partitions, want 3", res.CreatedPartitions)
	}
	if !slices.Contains(res.Groups, group) {
		t.Errorf("listed groups %v, want %s among them", res.Groups, group)
	}
	if res.GroupState != "Empty" {
		t.Errorf("group state %q, want Empty", res.GroupState)
	}
	if res.TimeOffset != 3 {
		t.Errorf("offset for timestamp %d = %d, want 3", adminTimestamp, res.TimeOffset)
	}
	// The client's own metadata may be cached; a fresh one must not
	// see the topic (deletion is synchronous in refbroker).
	if !e.topicGone("admin-created") {
		t.Errorf("deleted topic still described")
	}
}

// topicGone reports whether a fresh client's metadata lacks topic.
func (e *env) topicGone(topic string) bool {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr))
	if err != nil {
		e.t.Fatalf("client: %v", err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(e.ctx, topic)
	if err != nil {
		e.t.Fatalf("describe %s: %v", topic, err)
	}
	return !td.Has(topic) || td[topic].Err != nil
}

// needTool skips (outside CI) or fails (CI=true) when ok is false.
func needTool(t *testing.T, ok bool, what, pkg string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found; CI must install Debian %s (.ci/run does)", what, pkg)
	}
	t.Skipf("%s not found (install Debian %s); this client's compatibility is not checked", what, pkg)
}

// waitTick pauses between two looks at a condition polled with the
// test's deadline (a polling interval, not synchronisation).
func waitTick(e *env) {
	select {
	case <-time.After(20 * time.Millisecond):
	case <-e.ctx.Done():
	}
}
