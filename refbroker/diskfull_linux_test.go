package refbroker

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDiskFullIsAStorageError fills a small tmpfs: produce then fails
// with KAFKA_STORAGE_ERROR (which clients retry), not UNKNOWN_SERVER_ERROR,
// the broker keeps serving what it holds, and it starts again on the full
// disk. It needs to mount a tmpfs (root); without that it is skipped with
// the reason.
func TestDiskFullIsAStorageError(t *testing.T) {
	t.Parallel()
	mnt := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=3m"); err != nil {
		t.Skipf("cannot mount a 3 MiB tmpfs to fill (%v): needs root; disk-full handling not checked", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	dir := filepath.Join(mnt, "data")
	start := func() *Broker {
		cfg := Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: testLogger()}
		cfg.Storage.SegmentBytes = 1 << 20
		b, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		return b
	}
	b := start()
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b)
	tp, err := b.topics.create("fill", 1, nil, false)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	var code int16
	stored := 0
	for i := 0; i < 10_000 && code == 0; i++ {
		code = produceRecords(t, ctx, cl, tp, testBatch(string(make([]byte, 1000)), -1, -1)).ErrorCode
		if code == 0 {
			stored++
		}
	}
	if code != kerr.KafkaStorageError.Code {
		t.Fatalf("after %d batches: error %v, want KAFKA_STORAGE_ERROR", stored, kerr.ErrorForCode(code))
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatalf("Close on a full disk: %v", err)
	}
	b = start()
	defer b.Close()
	if hw := b.topics.lookup("fill").parts[0].HighWatermark(); hw != int64(stored) {
		t.Fatalf("restarted on the full disk with %d records, want %d", hw, stored)
	}
	cons := newClient(t, b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"fill": {0: kgo.NewOffset().AtStart()}}))
	if fs := cons.PollFetches(ctx); fs.Err0() != nil || len(fs.Records()) == 0 {
		t.Fatalf("consume after restart: %v, %d records", fs.Err0(), len(fs.Records()))
	}
}
