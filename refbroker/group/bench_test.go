package group

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkOffsetCommit measures one 16-partition simple commit, in
// memory and through the offsets log without fsync (with fsync the disk
// dominates and the number says nothing about this code).
func BenchmarkOffsetCommit(b *testing.B) {
	for _, bc := range []struct {
		name string
		dir  bool
	}{{"memory", false}, {"log", true}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if bc.dir {
				cfg.Dir = b.TempDir()
			}
			c, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Close() })
			req := kmsg.NewPtrOffsetCommitRequest()
			req.Version, req.Group = 9, "bench"
			t := kmsg.NewOffsetCommitRequestTopic()
			t.Topic = "topic"
			for p := range int32(16) {
				pp := kmsg.NewOffsetCommitRequestTopicPartition()
				pp.Partition = p
				t.Partitions = append(t.Partitions, pp)
			}
			req.Topics = append(req.Topics, t)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				for p := range req.Topics[0].Partitions {
					req.Topics[0].Partitions[p].Offset = int64(i)
				}
				if code := c.OffsetCommit(ctx, req).Topics[0].Partitions[0].ErrorCode; code != 0 {
					b.Fatalf("commit error %d", code)
				}
			}
		})
	}
}
