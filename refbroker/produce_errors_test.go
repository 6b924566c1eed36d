package refbroker

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/storage"
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
		p := produceRecords(t, ctx, cl, tp, tt.records)
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

// produceRecords sends records as partition 0 of tp with acks=all and
// returns the partition's answer.
func produceRecords(t *testing.T, ctx context.Context, cl *kgo.Client, tp *topic, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = tp.name, tp.id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.Topics[0].Partitions[0]
}

// recrc recomputes a test batch's CRC-32C after an edit, so only the edit
// is wrong with it.
func recrc(b []byte) []byte {
	h, _ := storage.ParseBatchHeader(b)
	_ = storage.PutBatchHeader(b, h)
	return b
}

// TestProduceValidatesRecords: batches whose records contradict their
// header are refused with Kafka's codes and store nothing, so the
// partition stays readable; max.message.bytes bounds a batch.
func TestProduceValidatesRecords(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	adm := newAdmin(t, b)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("2048")}, "valid"); err != nil {
		t.Fatalf("create: %v", err)
	}
	// edit returns a test batch with its header changed by fn and the
	// CRC recomputed, so only the edit is wrong with it.
	edit := func(fn func(h *storage.BatchHeader)) []byte {
		bt := testBatch("x", -1, -1)
		h, _ := storage.ParseBatchHeader(bt)
		fn(&h)
		_ = storage.PutBatchHeader(bt, h)
		return bt
	}
	withCount := func(n int32) []byte {
		// The header agrees with itself; the records do not.
		return edit(func(h *storage.BatchHeader) { h.NumRecords, h.LastOffsetDelta = n, n-1 })
	}
	gzipFlag := edit(func(h *storage.BatchHeader) { h.Attributes |= 1 }) // gzip, on plain records
	garbage := testBatch("x", -1, -1)
	for i := storage.BatchHeaderSize; i < len(garbage); i++ {
		garbage[i] = 0x7f
	}
	tests := []struct {
		name    string
		records []byte
		want    int16
	}{
		{"record count above the records", withCount(2), kerr.InvalidRecord.Code},
		{"record count of a million", withCount(1_000_000), kerr.InvalidRecord.Code},
		{"zero records", withCount(0), kerr.CorruptMessage.Code},
		{"gzip flag on plain records", gzipFlag, kerr.CorruptMessage.Code},
		{"garbage records", recrc(garbage), kerr.InvalidRecord.Code},
		{"above max.message.bytes", testBatch(string(make([]byte, 3000)), -1, -1), kerr.MessageTooLarge.Code},
		{"a good batch after all of them", testBatch("ok", -1, -1), 0},
	}
	cl := newClient(t, b)
	for _, tt := range tests {
		got := produceRecords(t, ctx, cl, b.topics.lookup("valid"), tt.records)
		if got.ErrorCode != tt.want || (tt.want == 0 && got.BaseOffset != 0) {
			t.Errorf("%s: error %v offset %d, want %v (offset 0 for the good batch: nothing else stored)",
				tt.name, kerr.ErrorForCode(got.ErrorCode), got.BaseOffset, kerr.ErrorForCode(tt.want))
		}
		if m := got.ErrorMessage; m != nil && strings.Contains(*m, b.cfg.DataDir) {
			t.Errorf("%s: the error message shows the server's data directory: %s", tt.name, *m)
		}
	}
	// The one good record is all a consumer sees.
	cons := newClient(t, b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"valid": {0: kgo.NewOffset().AtStart()}}))
	fs := cons.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatalf("consume: %v", err)
	}
	if rs := fs.Records(); len(rs) != 1 || string(rs[0].Value) != "ok" {
		t.Fatalf("consumed %d records, want just \"ok\"", len(rs))
	}
}
