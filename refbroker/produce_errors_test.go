package refbroker

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestProduceErrorMapping(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b)
	tp, err := b.topics.create("perr", 1, nil, false)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	corrupt := testBatch("x", -1, -1)
	corrupt[len(corrupt)-1] ^= 0xff // breaks the CRC
	const pid = 4242
	tests := []struct { // rows run in order: the idempotence rows build on each other
		name       string
		records    []byte
		wantCode   int16
		wantOffset int64
	}{
		{"first idempotent batch", testBatch("a", pid, 0), 0, 0},
		{"next sequence", testBatch("b", pid, 1), 0, 1},
		{"duplicate returns the original offset", testBatch("b", pid, 1), 0, 1},
		{"sequence gap", testBatch("c", pid, 5), kerr.OutOfOrderSequenceNumber.Code, -1},
		{"bad CRC", corrupt, kerr.CorruptMessage.Code, -1},
		{"truncated batch", testBatch("d", -1, -1)[:40], kerr.CorruptMessage.Code, -1},
		{"plain batch", testBatch("e", -1, -1), 0, 2},
		// Several batches in one partition: all appended, first offset back.
		{"two batches", slices.Concat(testBatch("f", -1, -1), testBatch("g", -1, -1)), 0, 3},
		// A corrupt second batch rejects the partition and stores nothing:
		// the next row still gets offset 5.
		{"corrupt second batch stores nothing", slices.Concat(testBatch("h", -1, -1), corrupt), kerr.CorruptMessage.Code, -1},
		{"after the rejected pair", testBatch("i", -1, -1), 0, 5},
	}
	for _, tt := range tests {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = "perr", tp.id
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = tt.records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("%s: produce: %v", tt.name, err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != tt.wantCode {
			t.Errorf("%s: error %v, want %v", tt.name, kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(tt.wantCode))
			continue
		}
		if tt.wantCode == 0 && p.BaseOffset != tt.wantOffset {
			t.Errorf("%s: base offset %d, want %d", tt.name, p.BaseOffset, tt.wantOffset)
		}
	}
}

// TestProduceOldVersions: v0-v2 are advertised (librdkafka up to 2.11
// compresses only for a broker whose Produce range starts at v0) and
// serve magic-v2 batches; the magic 0/1 message sets those versions were
// made for are rejected, not stored.
func TestProduceOldVersions(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	if _, err := b.topics.create("old", 1, nil, false); err != nil {
		t.Fatalf("create: %v", err)
	}
	// A magic-0 message: offset, size, crc, magic, attributes, null key,
	// 1-byte value.
	magic0 := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 'v'}
	tests := []struct {
		name     string
		version  int16
		records  []byte
		wantCode int16
	}{
		{"v0 with a v2 batch", 0, testBatch("a", -1, -1), 0},
		{"v2 with a v2 batch", 2, testBatch("b", -1, -1), 0},
		{"v0 with a magic-0 message set", 0, magic0, kerr.CorruptMessage.Code},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = tt.version, -1, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "old"
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = tt.records
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := rawRequest(t, b, req).(*kmsg.ProduceResponse)
			if got := resp.Topics[0].Partitions[0].ErrorCode; got != tt.wantCode {
				t.Fatalf("error %v, want %v", kerr.ErrorForCode(got), kerr.ErrorForCode(tt.wantCode))
			}
		})
	}
	if hw := b.topics.lookup("old").parts[0].HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d, want 2 (the two v2 batches)", hw)
	}
}
