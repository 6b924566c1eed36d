package refbrokertest_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/refbrokertest"
)

// TestFaultsDoWhatTheySay: each planted bug has exactly the effect its
// documentation promises, seen through a real client on a real broker.
// Whether the checkers catch them is cmd/brokerbench's test.
func TestFaultsDoWhatTheySay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		plan  refbrokertest.Plan
		check func(t *testing.T, cl *kgo.Client, topic string)
	}{
		{refbrokertest.Plan{Fault: refbrokertest.None}, func(t *testing.T, cl *kgo.Client, topic string) {
			acked := produce(t, cl, topic, 4)
			if hw := highWatermark(t, cl, topic); hw != 4 || acked[3] != 3 {
				t.Errorf("high watermark %d, acked offsets %v: want 4 records at 0..3", hw, acked)
			}
		}},
		{refbrokertest.Plan{Fault: refbrokertest.LoseAcked, Every: 2}, func(t *testing.T, cl *kgo.Client, topic string) {
			acked := produce(t, cl, topic, 4)
			// Records 1 and 3 are acknowledged at the offsets that
			// records 2 and (the next one) then take.
			if hw := highWatermark(t, cl, topic); hw != 2 || acked[1] != 1 || acked[2] != 1 || acked[3] != 2 {
				t.Errorf("high watermark %d, acked offsets %v: want 2 stored, acked at [0 1 1 2]", hw, acked)
			}
		}},
		{refbrokertest.Plan{Fault: refbrokertest.Duplicate, Every: 1}, func(t *testing.T, cl *kgo.Client, topic string) {
			produce(t, cl, topic, 2)
			if hw := highWatermark(t, cl, topic); hw != 4 {
				t.Errorf("high watermark %d, want 4: each of 2 records stored twice", hw)
			}
		}},
		{refbrokertest.Plan{Fault: refbrokertest.Reorder, Every: 1}, func(t *testing.T, cl *kgo.Client, topic string) {
			produce(t, cl, topic, 3) // three batches
			if got := fetchedBaseOffsets(t, cl, topic); len(got) != 3 || got[0] != 1 || got[1] != 0 || got[2] != 2 {
				t.Errorf("fetched batches at %v, want [1 0 2]", got)
			}
		}},
		{refbrokertest.Plan{Fault: refbrokertest.StaleOffset, StaleBy: 10}, func(t *testing.T, cl *kgo.Client, topic string) {
			produce(t, cl, topic, 1)
			adm := kadm.NewClient(cl)
			var offs kadm.Offsets
			offs.AddOffset(topic, 0, 50, -1)
			if _, err := adm.CommitOffsets(t.Context(), "g", offs); err != nil {
				t.Fatalf("commit: %v", err)
			}
			got, err := adm.FetchOffsets(t.Context(), "g")
			if err != nil {
				t.Fatalf("fetch offsets: %v", err)
			}
			if o, _ := got.Lookup(topic, 0); o.At != 40 {
				t.Errorf("committed 50, fetched %d; want 40", o.At)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.plan.Fault.String(), func(t *testing.T) {
			t.Parallel()
			inj := refbrokertest.New(tt.plan)
			cl := newClient(t, inj)
			const topic = "t"
			if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 1, 1, nil, topic); err != nil {
				t.Fatalf("create topic: %v", err)
			}
			tt.check(t, cl, topic)
			if (inj.Hits() > 0) != (tt.plan.Fault != refbrokertest.None) {
				t.Errorf("%d hits", inj.Hits())
			}
		})
	}
}

// newClient starts a broker with inj and returns a plain (not idempotent)
// client of it, so a lost batch does not also break producer sequences.
func newClient(t *testing.T, inj *refbrokertest.Injector) *kgo.Client {
	t.Helper()
	b, err := inj.Start(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce sends n records one at a time (one batch each) and returns the
// offsets they were acknowledged at.
func produce(t *testing.T, cl *kgo.Client, topic string, n int) []int64 {
	t.Helper()
	var acked []int64
	for i := range n {
		r, err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).First()
		if err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		acked = append(acked, r.Offset)
	}
	return acked
}

func highWatermark(t *testing.T, cl *kgo.Client, topic string) int64 {
	t.Helper()
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	o, _ := ends.Lookup(topic, 0)
	return o.Offset
}

// fetchedBaseOffsets fetches partition 0 from offset 0 with a raw request
// (a kgo consumer would drop batches out of order) and returns the base
// offsets of the batches in the order served.
func fetchedBaseOffsets(t *testing.T, cl *kgo.Client, topic string) []int64 {
	t.Helper()
	topics, err := kadm.NewClient(cl).ListTopics(t.Context(), topic)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	// kgo sends the highest version both sides know, which names
	// topics by ID.
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes, req.SessionEpoch = 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, topics[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var out []int64
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("fetch v%d: error code %d", resp.Version, p.ErrorCode)
			}
			for b := p.RecordBatches; len(b) > 0; {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(b); err != nil {
					t.Fatalf("decode batch: %v", err)
				}
				out = append(out, rb.FirstOffset)
				b = b[12+rb.Length:] // FirstOffset and Length are not counted in Length
			}
		}
	}
	return out
}
