package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// closedLog builds a log of 14 batches over several segments and closes it
// cleanly, returning its dir and the batches sent.
func closedLog(t *testing.T, cfg Config) (string, [][]byte) {
	t.Helper()
	l, dir, sent := buildLog(t, cfg, 14)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, sent
}

// indexedSegments counts the segments Open loaded from index files.
func indexedSegments(l *Log) int { return l.opened.fromIndex }

// checkProducerState asserts that producer 5's last batch is recognised as
// a duplicate, i.e. producer state was restored.
func checkProducerState(t *testing.T, l *Log, sent [][]byte) {
	t.Helper()
	res, err := l.Append(sent[len(sent)-1], 0)
	if err != nil || !res.Duplicate {
		t.Fatalf("resend of the last batch: %+v, %v; want a duplicate", res, err)
	}
	if l.MaxProducerID() != 5 {
		t.Fatalf("MaxProducerID = %d, want 5", l.MaxProducerID())
	}
}

func TestCleanOpenUsesMetadataFiles(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	dir, sent := closedLog(t, cfg)
	segs := segmentFiles(t, dir)
	for _, seg := range segs {
		base, _ := parseSegmentName(filepath.Base(seg))
		if _, err := os.Stat(indexPath(dir, base)); err != nil {
			t.Fatalf("no index file for %s after Close: %v", seg, err)
		}
	}
	l := openLog(t, dir, cfg)
	// Every segment, the active one included (Close trimmed it and wrote
	// its index), came from its index file; the active one is writable
	// again, so its index file is gone now.
	if got := indexedSegments(l); got != len(segs) || l.opened.scanned != 0 {
		t.Fatalf("open stats %+v, want all %d segments from index files", l.opened, len(segs))
	}
	if _, err := os.Stat(indexPath(dir, l.active().base)); !os.IsNotExist(err) {
		t.Fatalf("active segment's index file survived open: %v", err)
	}
	checkPrefix(t, l, sent, len(sent))
	if off, _, ok := l.OffsetForTime(1010); !ok || off < 1 {
		t.Fatalf("OffsetForTime from loaded index: %d, %v", off, ok)
	}
	checkProducerState(t, l, sent)
}

func TestUnusableMetadataFallsBackToScanning(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	dir, sent := closedLog(t, cfg)
	segs := segmentFiles(t, dir)
	base0, _ := parseSegmentName(filepath.Base(segs[0]))
	base1, _ := parseSegmentName(filepath.Base(segs[1]))
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"index crc mismatch", func(t *testing.T, dir string) { flipFileByte(t, indexPath(dir, base0), 20) }},
		{"index of another segment", func(t *testing.T, dir string) {
			b, err := os.ReadFile(indexPath(dir, base1))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(indexPath(dir, base0), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"index missing", func(t *testing.T, dir string) { mustRemove(t, indexPath(dir, base0)) }},
		{"snapshots missing", func(t *testing.T, dir string) {
			offsets, err := listSnapshots(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, off := range offsets {
				mustRemove(t, snapshotPath(dir, off))
			}
		}},
		{"snapshot crc mismatch", func(t *testing.T, dir string) {
			offsets, _ := listSnapshots(dir)
			flipFileByte(t, snapshotPath(dir, offsets[len(offsets)-1]), 30)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := copyDir(t, dir)
			tt.damage(t, d)
			l := openLog(t, d, cfg)
			if l.opened.scanned == 0 {
				t.Fatalf("open stats %+v: unusable metadata was trusted", l.opened)
			}
			checkPrefix(t, l, sent, len(sent))
			checkProducerState(t, l, sent)
		})
	}
}

func TestCrashRecoveryLoadsSegmentsBeforeRecoveryPoint(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	cfg.Fsync = FsyncInterval
	l, dir, sent := buildLog(t, cfg, 14)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	crashed := copyDir(t, dir)
	r := openLog(t, crashed, cfg)
	if got, want := indexedSegments(r), len(segmentFiles(t, dir))-1; got != want {
		t.Fatalf("%d segments loaded from index files, want all %d sealed ones", got, want)
	}
	checkPrefix(t, r, sent, len(sent))
	checkProducerState(t, r, sent)
}

func TestRecoveryAfterScanningRecoveryUsesIndexFiles(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	_, dir, sent := buildLog(t, cfg, 14)
	crashed := copyDir(t, dir)
	for _, p := range metadataFiles(t, crashed) {
		mustRemove(t, p)
	}
	r := openLog(t, crashed, cfg)
	if indexedSegments(r) != 0 || r.opened.scanned != len(segmentFiles(t, dir)) {
		t.Fatalf("without metadata files: %+v, want every segment scanned", r.opened)
	}
	// That recovery wrote index files and a snapshot, so a crash now
	// (before any Close) loads every sealed segment without scanning.
	again := openLog(t, copyDir(t, crashed), cfg)
	if got, want := indexedSegments(again), len(segmentFiles(t, dir))-1; got != want {
		t.Fatalf("second recovery loaded %d segments from index files, want %d", got, want)
	}
	checkPrefix(t, again, sent, len(sent))
	checkProducerState(t, again, sent)
}

func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	p := newProducerState()
	for i := range 8 { // wraps producer 3's history ring
		p.update(&BatchHeader{ProducerID: 3, ProducerEpoch: 2, BaseSequence: int32(10 * i), LastOffsetDelta: 9}, int64(100*i))
	}
	p.update(&BatchHeader{ProducerID: 11, ProducerEpoch: 0, BaseSequence: 0}, 900)
	off, q, err := decodeSnapshot(p.encode(1234))
	if err != nil || off != 1234 {
		t.Fatalf("decode: offset %d, %v", off, err)
	}
	if q.maxID != 11 || len(q.producers) != 2 {
		t.Fatalf("decoded maxID %d, %d producers", q.maxID, len(q.producers))
	}
	for id, e := range p.producers {
		got := q.producers[id]
		if got == nil || got.epoch != e.epoch || got.n != e.n || got.last() != e.last() {
			t.Fatalf("producer %d: decoded %+v, want %+v", id, got, e)
		}
		for i := range e.n {
			want := e.batches[(e.head-i+producerHistory)%producerHistory]
			if g := got.batches[(got.head-i+producerHistory)%producerHistory]; g != want {
				t.Fatalf("producer %d history[-%d] = %+v, want %+v", id, i, g, want)
			}
		}
	}
	b := p.encode(1)
	b[len(b)/2] ^= 1
	if _, _, err := decodeSnapshot(b); err == nil {
		t.Fatal("decodeSnapshot accepted a corrupt snapshot")
	}
}

func flipFileByte(t *testing.T, path string, pos int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[pos%len(b)] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
