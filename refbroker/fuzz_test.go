package refbroker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// testBatch encodes a valid magic-v2 record batch of one record, with
// producer ID pid (-1 for none) and base sequence seq.
func testBatch(value string, pid int64, seq int32) []byte {
	rec := kmsg.Record{Value: []byte(value)}
	// AppendTo writes rec.Length as the length prefix: measure the body
	// with a 0 length (one varint byte), then encode with the real one.
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	recBytes := rec.AppendTo(nil)
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		FirstOffset: 0, PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: 0, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: 0, FirstSequence: seq, NumRecords: 1,
		Records: recBytes,
	}
	if pid < 0 {
		b.ProducerEpoch, b.FirstSequence = -1, -1
	}
	raw := b.AppendTo(nil)
	h, _ := storage.ParseBatchHeader(raw)
	h.BatchLength = int32(len(raw) - 12)
	if err := storage.PutBatchHeader(raw, h); err != nil {
		panic(err) // AppendTo always writes a whole header
	}
	return raw
}

// fuzzSeeds returns valid request bodies (header included, no size prefix)
// of several keys.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	add := func(r kmsg.Request) { seeds = append(seeds, requestFrame(r, 1)[4:]) }

	av := kmsg.NewPtrApiVersionsRequest()
	av.Version, av.ClientSoftwareName, av.ClientSoftwareVersion = 3, "fuzz", "1"
	add(av)

	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	name := "fuzz"
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &name
	md.Topics, md.AllowAutoTopicCreation = append(md.Topics, mt), true
	add(md)

	pr := kmsg.NewPtrProduceRequest()
	pr.Version, pr.Acks, pr.TimeoutMillis = 9, -1, 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "fuzz"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = testBatch("hello", -1, -1)
	pt.Partitions = append(pt.Partitions, pp)
	pr.Topics = append(pr.Topics, pt)
	add(pr)

	fr := kmsg.NewPtrFetchRequest()
	fr.Version, fr.MaxWaitMillis, fr.MinBytes, fr.MaxBytes = 12, 20, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "fuzz"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	add(fr)

	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 6
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "fuzz"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	add(lo)

	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version = 7
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "fuzz-created", 2, 1
	ct.Topics = append(ct.Topics, ctt)
	add(ct)

	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.Version = 4
	add(ip)

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version, fc.CoordinatorKeys = 4, []string{"g"}
	add(fc)

	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.Version = 4
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeTopic, "fuzz"
	dc.Resources = append(dc.Resources, dr)
	add(dc)

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID = 4, "g", "m"
	add(hb)

	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version = 7
	of.Group = "g"
	add(of)

	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.Version, dt.TopicNames = 5, []string{"fuzz-created"}
	add(dt)
	return seeds
}

// FuzzRequest feeds arbitrary request frames (header and body, after the
// size prefix) through decode and dispatch against a real broker on a
// temporary directory.
//
// Invariants: no handler panics, whatever the bytes (handlers' panics are
// recovered per request, so the fuzzer checks the broker's count of
// them); and afterwards the broker still answers ApiVersions. Blocking requests (fetch long-poll,
// JoinGroup) are bounded by a short per-input deadline, which exercises
// the cancellation path too. The seeds are valid requests of several keys,
// so `go test` runs them as an ordinary test.
func FuzzRequest(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	b := newBroker(f, func(c *Config) {
		c.MaxPartitionsPerTopic = 8
		c.Storage.SegmentBytes = 64 << 10
	})
	probe := requestFrame(kmsg.NewPtrApiVersionsRequest(), 99)[4:]
	f.Fuzz(func(t *testing.T, body []byte) {
		cc := newConn(b, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_ = cc.handleFrame(ctx, body) // errors close the connection; that is fine
		if n := b.handlerPanics.Load(); n != 0 {
			t.Fatalf("a handler panicked on %x (see the broker log with REFBROKER_TEST_LOG=1)", body)
		}

		cc.discardOutput() // releases the storage reads a fetch holds
		if err := cc.handleFrame(context.Background(), probe); err != nil {
			t.Fatalf("ApiVersions after fuzz input failed: %v", err)
		}
		if len(cc.out) < 8 || int32(binary.BigEndian.Uint32(cc.out[4:])) != 99 {
			t.Fatalf("ApiVersions after fuzz input: bad response %x", cc.out)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(cc.out[8:]); err != nil || resp.ErrorCode != 0 {
			t.Fatalf("ApiVersions after fuzz input: err %v code %d", err, resp.ErrorCode)
		}
	})
}

// TestFuzzSeedsAreValid keeps the seed corpus honest: every seed must be
// a request the broker accepts and answers, or the fuzzer starts from
// noise.
func TestFuzzSeedsAreValid(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	for i, s := range fuzzSeeds() {
		cc := newConn(b, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := cc.handleFrame(ctx, s)
		cancel()
		if err != nil || len(cc.out) < 8 {
			t.Errorf("seed %d (key %d): err %v, %d response bytes", i, binary.BigEndian.Uint16(s), err, len(cc.out))
		}
		cc.discardOutput()
	}
	if l := b.topics.partition("fuzz", 0); l == nil || l.HighWatermark() != 1 {
		t.Fatal("the produce seed did not append its batch")
	}
}

// FuzzStream writes arbitrary bytes to a real connection, size prefixes
// included, so the reader (framing, timeouts, buffering) and the
// pipelined serve loop are fuzzed too, not only decoded requests.
//
// Invariants: no handler panics; the broker closes or answers the
// connection without hanging; afterwards it still answers ApiVersions on a
// new connection.
func FuzzStream(f *testing.F) {
	for _, s := range fuzzSeeds() {
		frame := binary.BigEndian.AppendUint32(nil, uint32(len(s)))
		f.Add(append(frame, s...))
	}
	f.Add(binary.BigEndian.AppendUint32(nil, 0xffffffff))
	f.Add([]byte{0, 0, 0, 9, 0, 18, 0, 3})
	b := newBroker(f, func(c *Config) {
		c.MaxPartitionsPerTopic = 8
		c.Storage.SegmentBytes = 64 << 10
		c.RequestReadTimeout = 200 * time.Millisecond
		c.MaxRequestBytes = 1 << 20
	})
	f.Fuzz(func(t *testing.T, stream []byte) {
		c, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(stream); err != nil {
			return // the broker closed first: allowed
		}
		_ = c.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, c); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the broker neither answered nor closed within 5s")
			}
		}
		if n := b.handlerPanics.Load(); n != 0 {
			t.Fatalf("a handler panicked on stream %x", stream)
		}
		apiVersionsOK(t, b)
	})
}
