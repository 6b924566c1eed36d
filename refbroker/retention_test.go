package refbroker

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRetentionEnforcedPeriodically(t *testing.T) {
	t.Parallel()
	b := newBroker(t, func(c *Config) { c.RetentionCheckInterval = 20 * time.Millisecond })
	ctx := testCtx(t, 30*time.Second)
	segBytes, retBytes := "4096", "8192"
	if _, err := newAdmin(t, b).CreateTopic(ctx, 1, 1, map[string]*string{
		"segment.bytes": &segBytes, "retention.bytes": &retBytes,
	}, "ret"); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	prod := newClient(t, b, kgo.DefaultProduceTopic("ret"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	val := bytes.Repeat([]byte("r"), 3000) // about one batch per segment
	for range 20 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	l := b.topics.partition("ret", 0)
	waitFor(t, 10*time.Second, "retention to delete old segments", func() bool {
		return l.StartOffset() > 0 && l.Size() <= 8192+4096
	})
	// A consumer starting from the beginning resets to the new start.
	cons := newClient(t, b, kgo.ConsumeTopics("ret"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatalf("poll: %v", err)
	}
	if recs := fs.Records(); len(recs) == 0 || recs[0].Offset < l.StartOffset()-1 {
		t.Fatalf("consumer read %d records starting below the log start %d", len(recs), l.StartOffset())
	}
}
