package refbroker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestTopicsAndDataSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testCtx(t, 60*time.Second)
	start := func() *Broker {
		t.Helper()
		cfg := Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: testLogger()}
		cfg.Storage.SegmentBytes = 1 << 20
		b, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		return b
	}

	b1 := start()
	cl := newClient(t, b1)
	adm := kadm.NewClient(cl)
	retention := "86400000"
	created, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": &retention}, "durable")
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	for i := range 10 {
		r := &kgo.Record{Topic: "durable", Partition: int32(i % 2), Value: fmt.Appendf(nil, "r%d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	firstPID, err := b1.topics.nextProducerID()
	if err != nil {
		t.Fatalf("nextProducerID: %v", err)
	}
	clusterID := b1.ClusterID()
	cl.Close()
	if err := b1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b2 := start()
	t.Cleanup(func() { _ = b2.Close() })
	tp := b2.topics.lookup("durable")
	if tp == nil {
		t.Fatal("topic lost across restart")
	}
	if tp.id != created.ID || len(tp.parts) != 2 || tp.configs["retention.ms"] != retention {
		t.Fatalf("topic after restart: id %x parts %d configs %v; want id %x, 2 parts, retention.ms=%s", tp.id, len(tp.parts), tp.configs, created.ID, retention)
	}
	if got := b2.ClusterID(); got != clusterID {
		t.Fatalf("cluster ID changed across restart: %q -> %q", clusterID, got)
	}
	if pid, err := b2.topics.nextProducerID(); err != nil || pid <= firstPID {
		t.Fatalf("producer ID after restart = %d (err %v), must exceed %d", pid, err, firstPID)
	}
	cons := newClient(t, b2, kgo.ConsumeTopics("durable"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < 10 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
}
