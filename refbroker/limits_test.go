package refbroker

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchNamingAPartitionManyTimes: repeats are answered once, so a
// small request cannot multiply the response.
func TestFetchNamingAPartitionManyTimes(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b, kgo.DefaultProduceTopic("rep"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: bytes.Repeat([]byte("v"), 10_000)}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxBytes, req.SessionEpoch = 12, 50<<20, -1
	for range 2 { // the topic twice, each naming partition 0 five times
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "rep"
		for range 5 {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp := rawRequest(t, b, req).(*kmsg.FetchResponse)
	parts, data := 0, 0
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			parts++
			data += len(p.RecordBatches)
		}
	}
	if parts != 1 || data == 0 || data > 20_000 {
		t.Fatalf("%d partition entries with %d bytes, want 1 entry with the one batch", parts, data)
	}
}

// TestConnectionLimit: connections beyond MaxConnections are closed at
// once; the others keep working.
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	b := newBroker(t, func(c *Config) { c.MaxConnections = 2 })
	first := dialRaw(t, b)
	dialRaw(t, b)
	waitFor(t, 5*time.Second, "two connections registered", func() bool {
		b.connMu.Lock()
		defer b.connMu.Unlock()
		return len(b.conns) == 2
	})
	expectClosed(t, dialRaw(t, b))
	first.Close()
	waitFor(t, 5*time.Second, "a slot to free up", func() bool {
		b.connMu.Lock()
		defer b.connMu.Unlock()
		return len(b.conns) < 2
	})
	apiVersionsOK(t, b)
}

// TestSlowAndIdleConnectionsDropped: a connection that sends nothing for
// IdleTimeout, or takes longer than RequestReadTimeout to send one
// request, is closed.
func TestSlowAndIdleConnectionsDropped(t *testing.T) {
	t.Parallel()
	b := newBroker(t, func(c *Config) { c.IdleTimeout, c.RequestReadTimeout = 300*time.Millisecond, 300*time.Millisecond })
	idle := dialRaw(t, b)
	slow := dialRaw(t, b)
	// A size prefix and one byte of a 100-byte request, then nothing.
	if _, err := slow.Write(binary.BigEndian.AppendUint32(nil, 100)[:4:4]); err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]net.Conn{"idle": idle, "slow": slow} {
		start := time.Now()
		expectClosed(t, c)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s connection closed after %v", name, took)
		}
	}
	apiVersionsOK(t, b)
}

// TestRequestMemoryFollowsTheBytesSent: a size prefix claiming a huge
// request costs memory only for what arrives.
func TestRequestMemoryFollowsTheBytesSent(t *testing.T) {
	t.Parallel()
	buf, err := readBody(bytes.NewReader(make([]byte, 10)), nil, 100<<20, nil, nil)
	if err == nil {
		t.Fatal("a 10-byte body read as 100 MiB")
	}
	if cap(buf) > 1<<20 {
		t.Fatalf("reading 10 bytes of a claimed 100 MiB allocated %d bytes", cap(buf))
	}
	full := bytes.Repeat([]byte{7}, 3<<20)
	got, err := readBody(bytes.NewReader(full), nil, len(full), nil, nil)
	if err != nil || !bytes.Equal(got, full) {
		t.Fatalf("reading a whole 3 MiB body: %v, equal %v", err, bytes.Equal(got, full))
	}
}

// TestGoodRequestsAnsweredBeforeABadFrame: requests read before a bad
// frame in the same pipelined write are answered (a stored Produce's
// answer must not be lost), then the connection closes.
func TestGoodRequestsAnsweredBeforeABadFrame(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	if _, err := b.topics.create("pipe", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	produce := kmsg.NewPtrProduceRequest()
	produce.Version, produce.Acks, produce.TimeoutMillis = 9, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "pipe"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = testBatch("stored", -1, -1)
	rt.Partitions = append(rt.Partitions, rp)
	produce.Topics = append(produce.Topics, rt)
	versions := kmsg.NewPtrApiVersionsRequest()
	versions.Version = 3
	for name, bad := range map[string][]byte{
		"size below a header":     binary.BigEndian.AppendUint32(nil, 2),
		"undecodable API version": rawFrame(0, 99, 3, nil),
	} {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, b)
			write := append(requestFrame(produce, 1), requestFrame(versions, 2)...)
			if _, err := c.Write(append(write, bad...)); err != nil {
				t.Fatalf("write: %v", err)
			}
			for _, want := range []int32{1, 2} {
				if corr, _ := readResponse(t, c); corr != want {
					t.Fatalf("response for correlation %d, want %d", corr, want)
				}
			}
			expectClosed(t, c)
		})
	}
	if hw := b.topics.lookup("pipe").parts[0].HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d, want the 2 produced batches", hw)
	}
}

// TestCreateTopicsStopsWhenTheClientLeaves: a CreateTopics of many topics
// stops creating them once its client disconnects, and the topics created
// until then are published (with one metadata write).
func TestCreateTopicsStopsWhenTheClientLeaves(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	const n = 1000
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis = 5, 60_000
	for i := range n {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "many-"+strconv.Itoa(i), 1, 1
		req.Topics = append(req.Topics, rt)
	}
	c := dialRaw(t, b)
	if _, err := c.Write(requestFrame(req, 1)); err != nil {
		t.Fatalf("write: %v", err)
	}
	// Topics are published together at the end of the request, so watch
	// their directories appear.
	topicDirs := func() int {
		entries, _ := os.ReadDir(filepath.Join(b.cfg.DataDir, topicsDirName))
		return len(entries)
	}
	waitFor(t, 10*time.Second, "the first topic directories", func() bool { return topicDirs() > 0 })
	c.Close()
	// Creation stops: the count settles well below n.
	last := -1
	waitFor(t, 30*time.Second, "topic creation to stop", func() bool {
		cur := topicDirs()
		settled := cur == last
		last = cur
		time.Sleep(100 * time.Millisecond) // polling interval between two counts
		return settled
	})
	if last >= 200 { // it disconnects right after the first one
		t.Fatalf("%d of %d topics were created for a client that left after the first", last, n)
	}
	waitFor(t, 10*time.Second, "the created topics to be published", func() bool { return len(b.topics.all()) == last })
	if w := b.topics.metaWrites.Load(); w > 2 { // the one at start, the one for this request
		t.Fatalf("%d metadata writes, want 2", w)
	}
}

// TestFetchResponseCappedByBroker: MaxFetchBytes caps a response whatever
// MaxBytes the client asks for.
func TestFetchResponseCappedByBroker(t *testing.T) {
	t.Parallel()
	b := newBroker(t, func(c *Config) { c.MaxFetchBytes = 64 << 10 })
	ctx := testCtx(t, 30*time.Second)
	if _, err := newAdmin(t, b).CreateTopic(ctx, 4, 1, nil, "capped"); err != nil {
		t.Fatalf("create: %v", err)
	}
	cl := newClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for p := range int32(4) { // 360 KiB in all
		for range 3 {
			r := &kgo.Record{Topic: "capped", Partition: p, Value: bytes.Repeat([]byte{byte(p)}, 30<<10)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxBytes, req.SessionEpoch = 12, 1<<30, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "capped"
	for p := range int32(4) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = p, 1<<30
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := rawRequest(t, b, req).(*kmsg.FetchResponse)
	total := 0
	for _, p := range resp.Topics[0].Partitions {
		total += len(p.RecordBatches)
	}
	if total < 30<<10 || total > 64<<10+32<<10 { // the cap, plus at most one batch over it
		t.Fatalf("response holds %d record bytes, want some and at most the 64 KiB cap plus one batch", total)
	}
}

// TestInFlightBytesBounded: while a request is being handled, the broker
// reads no more than MaxInFlightBytes of the requests pipelined behind it,
// and answers them all once it is done.
func TestInFlightBytesBounded(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	release, entered := make(chan struct{}), make(chan struct{}, 8)
	b := newBroker(t, func(c *Config) {
		c.MaxInFlightBytes = limit
		c.Intercept = func(ctx context.Context, req kmsg.Request, serve ServeFunc) (kmsg.Response, error) {
			if req.Key() == kmsg.Produce.Int16() {
				entered <- struct{}{}
				<-release
			}
			return serve(ctx, req)
		}
	})
	tp, err := b.topics.create("inflight", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	produce := func(corr int32) []byte {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = tp.name
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = testBatch(string(make([]byte, 600<<10)), -1, -1)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return requestFrame(req, corr)
	}
	c := dialRaw(t, b)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() { _, _ = c.Write(slices.Concat(produce(1), produce(2), produce(3))) }()
	<-entered
	var cc *conn
	waitFor(t, 5*time.Second, "the connection", func() bool {
		b.connMu.Lock()
		defer b.connMu.Unlock()
		for x := range b.conns {
			cc = x
		}
		return cc != nil
	})
	// Without the bound the reader would take the other two requests
	// (1.2 MiB more) within this window; it must stay at one.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := cc.inflight.Load(); n > limit {
			t.Fatalf("%d request bytes buffered, limit %d", n, limit)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	close(release)
	for want := int32(1); want <= 3; want++ {
		if corr, _ := readResponse(t, c); corr != want {
			t.Fatalf("response %d, want %d", corr, want)
		}
	}
}
