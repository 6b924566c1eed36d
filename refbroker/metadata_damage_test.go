package refbroker

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// damageBroker starts a broker in dir with opts and returns it or the
// Start error.
func damageBroker(t *testing.T, dir string, rebuild bool) (*Broker, error) {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: testLogger(), RebuildMetadata: rebuild}
	cfg.Storage.SegmentBytes = 1 << 20
	b, err := Start(context.Background(), cfg)
	if err == nil {
		t.Cleanup(func() { _ = b.Close() })
	}
	return b, err
}

// seedTopics creates topics "alpha" and "beta" with 5 records each in a
// fresh data dir, closes the broker and returns the dir.
func seedTopics(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b, err := damageBroker(t, dir, false)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b)
	for _, name := range []string{"alpha", "beta"} {
		if _, err := newAdmin(t, b).CreateTopic(ctx, 1, 1, nil, name); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		for range 5 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: name, Value: []byte(name)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return dir
}

// servesAll fails unless b serves alpha and beta with their 5 records.
func servesAll(t *testing.T, b *Broker) {
	t.Helper()
	for _, name := range []string{"alpha", "beta"} {
		tp := b.topics.lookup(name)
		if tp == nil {
			t.Fatalf("topic %s not served", name)
		}
		if hw := tp.parts[0].HighWatermark(); hw != 5 {
			t.Fatalf("topic %s high watermark %d, want 5", name, hw)
		}
	}
}

// topicDirCount counts the directories under DataDir/topics.
func topicDirCount(t *testing.T, dir string) int {
	t.Helper()
	names, err := topicDirNames(dir)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return len(names)
}

// flipTopicIDDigit changes one hex digit of the first topic ID in the
// metadata file at path: still valid JSON, still a valid ID.
func flipTopicIDDigit(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	i := bytes.Index(data, []byte(`"id": "`))
	if i < 0 {
		t.Fatalf("no topic id in %s", data)
	}
	i += len(`"id": "`)
	if data[i] == 'a' {
		data[i] = 'b'
	} else {
		data[i] = 'a'
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// TestMetadataDamageNeverDeletesData: a missing or damaged metadata file
// costs at most the last metadata change (the backup generation), and
// when both generations are gone the broker refuses to start, deletes
// nothing, and can rebuild the metadata from the topic directories.
func TestMetadataDamageNeverDeletesData(t *testing.T) {
	t.Parallel()
	meta := func(dir string) string { return filepath.Join(dir, metaFileName) }
	prev := func(dir string) string { return filepath.Join(dir, metaPrevName) }
	tests := []struct {
		name      string
		damage    func(t *testing.T, dir string)
		wantStart bool // starts without a rebuild, serving both topics
	}{
		{"current file missing", func(t *testing.T, dir string) { os.Remove(meta(dir)) }, true},
		{"one hex digit of a topic id changed", func(t *testing.T, dir string) { flipTopicIDDigit(t, meta(dir)) }, true},
		{"current file truncated", func(t *testing.T, dir string) { os.Truncate(meta(dir), 10) }, true},
		{"both generations missing", func(t *testing.T, dir string) { os.Remove(meta(dir)); os.Remove(prev(dir)) }, false},
		{"both generations damaged", func(t *testing.T, dir string) {
			flipTopicIDDigit(t, meta(dir))
			flipTopicIDDigit(t, prev(dir))
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := seedTopics(t)
			tt.damage(t, dir)
			b, err := damageBroker(t, dir, false)
			if tt.wantStart {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				servesAll(t, b)
				return
			}
			if !errors.Is(err, ErrCorruptMetadata) || !strings.Contains(err.Error(), "--rebuild-metadata") {
				t.Fatalf("Start: %v; want ErrCorruptMetadata naming --rebuild-metadata", err)
			}
			if n := topicDirCount(t, dir); n != 2 {
				t.Fatalf("%d topic directories after the refused start, want 2", n)
			}
			b, err = damageBroker(t, dir, true)
			if err != nil {
				t.Fatalf("Start with RebuildMetadata: %v", err)
			}
			servesAll(t, b)
		})
	}
}

// TestOrphanTopicDirectoriesKept: a topic directory the metadata does not
// name is kept unless it carries the deletion marker.
func TestOrphanTopicDirectoriesKept(t *testing.T) {
	t.Parallel()
	dir := seedTopics(t)
	id1, id2 := newTopicID(), newTopicID()
	unnamed := filepath.Join(dir, topicsDirName, hex.EncodeToString(id1[:]))
	deleted := filepath.Join(dir, topicsDirName, hex.EncodeToString(id2[:]))
	for _, d := range []string{unnamed, deleted} {
		if err := os.MkdirAll(filepath.Join(d, "0"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := markDeleted(deleted); err != nil {
		t.Fatal(err)
	}
	b, err := damageBroker(t, dir, false)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	servesAll(t, b)
	if _, err := os.Stat(unnamed); err != nil {
		t.Errorf("unnamed topic directory was removed: %v", err)
	}
	if _, err := os.Stat(deleted); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marked topic directory still there: %v", err)
	}
}
