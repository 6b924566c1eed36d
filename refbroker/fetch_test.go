package refbroker

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestFetchEdgeCases(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b, kgo.DefaultProduceTopic("edge"), kgo.AllowAutoTopicCreation())
	for range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	tests := []struct {
		name      string
		sessionID int32
		offset    int64
		maxBytes  int32
		wantTop   int16 // top-level error code
		wantPart  int16
		wantData  bool
	}{
		{"full fetch gets no session", 0, 0, 1 << 20, 0, 0, true},
		{"unknown session", 12345, 0, 1 << 20, kerr.FetchSessionIDNotFound.Code, 0, false},
		{"offset past the end", 0, 4, 1 << 20, 0, kerr.OffsetOutOfRange.Code, false},
		{"offset at the end", 0, 3, 1 << 20, 0, 0, false},
		{"tiny max bytes still returns one batch", 0, 0, 1, 0, 0, true},
	}
	for _, tt := range tests {
		for _, version := range []int16{11, 12} { // the last plain and the first flexible version
			t.Run(fmt.Sprintf("%s/v%d", tt.name, version), func(t *testing.T) {
				req := kmsg.NewPtrFetchRequest()
				req.Version, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = version, 0, 0, tt.maxBytes
				req.SessionID, req.SessionEpoch = tt.sessionID, -1
				if tt.sessionID != 0 {
					req.SessionEpoch = 1
				}
				rt := kmsg.NewFetchRequestTopic()
				// kgo sends its highest common version (v13+ addresses
				// topics by ID), so set both.
				rt.Topic, rt.TopicID = "edge", b.topics.lookup("edge").id
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.FetchOffset, rp.PartitionMaxBytes = tt.offset, tt.maxBytes
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				// Raw, because a client would raise the version to
				// the highest both sides support.
				resp := rawRequest(t, b, req).(*kmsg.FetchResponse)
				if resp.ErrorCode != tt.wantTop || resp.SessionID != 0 {
					t.Fatalf("top-level error %d session %d, want error %d session 0", resp.ErrorCode, resp.SessionID, tt.wantTop)
				}
				if tt.wantTop != 0 {
					return
				}
				p := resp.Topics[0].Partitions[0]
				if p.ErrorCode != tt.wantPart || p.HighWatermark != 3 || p.LastStableOffset != 3 || p.LogStartOffset != 0 {
					t.Fatalf("partition %+v", p)
				}
				if got := len(p.RecordBatches) > 0; got != tt.wantData {
					t.Fatalf("has data = %v, want %v", got, tt.wantData)
				}
				if p.RecordBatches == nil {
					// librdkafka rejects a null records field and never
					// reaches end of partition.
					t.Fatal("records field is null, want empty")
				}
			})
		}
	}
}
