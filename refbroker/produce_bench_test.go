package refbroker

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// BenchmarkProduceRequest measures the broker's whole produce path in
// process, over a real socket: reading the frame, decoding it, validating
// every batch (CRC, every record) and appending each to its partition,
// with the production storage defaults (64 MiB segments, fsync every
// second). Each request carries one batch of 1,000 records of 1 KiB per
// partition, the shape kgo sends in BenchmarkBrokerEfficiency; at 16
// partitions a request is 16 MB, above the 8 MiB a connection keeps.
// MB/s is of request bytes; B/op and allocs/op count the broker and the
// (allocation-free) client loop together.
func BenchmarkProduceRequest(b *testing.B) {
	for _, parts := range []int32{1, 16} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			br := newBroker(b, func(c *Config) { c.Storage.SegmentBytes = storage.DefaultSegmentBytes })
			if _, err := br.topics.create("bench", parts, nil, false); err != nil {
				b.Fatal(err)
			}
			frame := benchProduceFrame(parts, benchRecordBatch(1000, 1024))
			c, err := net.DialTimeout("tcp", br.Addr(), 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			resp := make([]byte, 0, 4096)
			roundTrip := func() {
				if _, err := c.Write(frame); err != nil {
					b.Fatalf("write produce request: %v", err)
				}
				var size [4]byte
				if _, err := io.ReadFull(c, size[:]); err != nil {
					b.Fatalf("read response size: %v", err)
				}
				resp = resp[:binary.BigEndian.Uint32(size[:])]
				if _, err := io.ReadFull(c, resp); err != nil {
					b.Fatalf("read response: %v", err)
				}
			}
			// The first answer is decoded: every partition must succeed.
			roundTrip()
			pr := kmsg.NewPtrProduceResponse()
			pr.Version = 9
			if err := pr.ReadFrom(resp[5:]); err != nil { // correlation ID, header tags
				b.Fatalf("decode produce response: %v", err)
			}
			for _, p := range pr.Topics[0].Partitions {
				if p.ErrorCode != 0 {
					b.Fatalf("partition %d: error code %d", p.Partition, p.ErrorCode)
				}
			}
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				roundTrip()
			}
		})
	}
}

// benchProduceFrame encodes a Produce v9 request (acks=1) carrying batch
// to every one of parts partitions of topic "bench".
func benchProduceFrame(parts int32, batch []byte) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 1, 30_000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "bench"
	for p := range parts {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batch
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	return requestFrame(req, 1)
}

// benchRecordBatch encodes a valid, non-idempotent magic-v2 batch of n
// records with size-byte values.
func benchRecordBatch(n, size int) []byte {
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i*31 + 7)
	}
	var recs []byte
	for i := range n {
		rec := kmsg.Record{OffsetDelta: int32(i), Value: value}
		// AppendTo writes rec.Length as the length prefix: measure the
		// body with a 0 length (one varint byte), then encode.
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		recs = rec.AppendTo(recs)
	}
	now := time.Now().UnixMilli()
	raw := (&kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1),
		FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n),
		Records: recs,
	}).AppendTo(nil)
	h, _ := storage.ParseBatchHeader(raw)
	h.BatchLength = int32(len(raw) - 12)
	if err := storage.PutBatchHeader(raw, h); err != nil {
		panic(err) // AppendTo always writes a whole header
	}
	return raw
}
