package refbroker

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestIdempotentProduceConsumeInOrder(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	const topicName, partitions, perPartition = "orders", 3, 200
	adm := newAdmin(t, b)
	ctx := testCtx(t, 30*time.Second)
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topicName); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	prod := newClient(t, b, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range perPartition {
		for p := range int32(partitions) {
			r := &kgo.Record{Topic: topicName, Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, i))}
			prod.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	cons := newClient(t, b, kgo.ConsumeTopics(topicName), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	next := make([]int, partitions)
	total := 0
	for total < partitions*perPartition {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll after %d records: %v", total, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			want := fmt.Sprintf("%d-%d", r.Partition, next[r.Partition])
			if string(r.Value) != want || r.Offset != int64(next[r.Partition]) {
				t.Fatalf("partition %d: got %q at offset %d, want %q at %d", r.Partition, r.Value, r.Offset, want, next[r.Partition])
			}
			next[r.Partition]++
			total++
		})
	}
}

func TestProduceAcks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		acks kgo.Acks
	}{
		{"acks=0 sends no response", kgo.NoAck()},
		{"acks=1", kgo.LeaderAck()},
		{"acks=all", kgo.AllISRAcks()},
	}
	b := newBroker(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 30*time.Second)
			topicName := fmt.Sprintf("acks-%d", i)
			opts := []kgo.Opt{kgo.RequiredAcks(tt.acks), kgo.AllowAutoTopicCreation()}
			if tt.acks != kgo.AllISRAcks() {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
			prod := newClient(t, b, opts...)
			const n = 50
			for i := range n {
				prod.Produce(ctx, &kgo.Record{Topic: topicName, Value: fmt.Appendf(nil, "v%d", i)}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
			if err := prod.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			// With acks=0 Flush returns once the requests are written, so
			// poll the log until the broker has appended them all.
			waitFor(t, 10*time.Second, "records in the log", func() bool {
				l := b.topics.partition(topicName, 0)
				return l != nil && l.HighWatermark() == n
			})
			cons := newClient(t, b, kgo.ConsumeTopics(topicName), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := 0
			for got < n {
				fs := cons.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatalf("poll: %v", err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					if want := fmt.Sprintf("v%d", got); string(r.Value) != want {
						t.Fatalf("record %d = %q, want %q", got, r.Value, want)
					}
					got++
				})
			}
		})
	}
}

func TestFetchLongPollWakesOnAppend(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	const maxWait = 10 * time.Second
	if _, err := newAdmin(t, b).CreateTopic(ctx, 1, 1, nil, "wake"); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	cons := newClient(t, b, kgo.ConsumeTopics("wake"), kgo.FetchMaxWait(maxWait),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := make(chan time.Time, 1)
	go func() {
		for {
			fs := cons.PollFetches(ctx)
			if fs.NumRecords() > 0 || ctx.Err() != nil {
				got <- time.Now()
				return
			}
		}
	}()
	waitFor(t, 10*time.Second, "a fetch waiting in the broker", func() bool { return b.fetchWaiters.Load() > 0 })
	prod := newClient(t, b)
	sent := time.Now()
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "wake", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	select {
	case at := <-got:
		if d := at.Sub(sent); d > maxWait/2 {
			t.Fatalf("consumer got the record %v after it was produced; long poll did not wake (MaxWait %v)", d, maxWait)
		}
	case <-ctx.Done():
		t.Fatal("consumer never got the record")
	}
}
