package refbroker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsumerGroupSmoke checks the wiring to refbroker/group: a kgo group
// consumer finds the coordinator, joins, consumes and commits. Thorough
// group scenarios live with the group coordinator and the e2e tests.
func TestConsumerGroupSmoke(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 60*time.Second)
	prod := newClient(t, b, kgo.DefaultProduceTopic("grp"), kgo.AllowAutoTopicCreation())
	for range 10 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cons := newClient(t, b, kgo.ConsumerGroup("g1"), kgo.ConsumeTopics("grp"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	got := 0
	for got < 10 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	offs, err := kadm.NewClient(prod).FetchOffsets(ctx, "g1")
	if err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	if o, ok := offs.Lookup("grp", 0); !ok || o.At != 10 {
		t.Fatalf("committed offset = %+v (found %v), want 10", o, ok)
	}
}
