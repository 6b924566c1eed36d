package storage

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// buildLog appends n batches of varied sizes (idempotent producer 5) and
// returns the log, its dir and the batches as sent.
func buildLog(tb testing.TB, cfg Config, n int) (*Log, string, [][]byte) {
	tb.Helper()
	l, dir := newLog(tb, cfg)
	var sent [][]byte
	seq := int32(0)
	for i := range n {
		records := 1 + i%3
		b := makeBatch(batchSpec{records: records, valueSize: 200 + 97*(i%7), producerID: 5, seq: seq, fill: byte('a' + i%26), timestamp: int64(1000 + i)})
		mustAppend(tb, l, b)
		seq += int32(records)
		sent = append(sent, b)
	}
	// Roll leaves index files and producer snapshots to the background
	// flusher; persist them now so the files a test copies do not depend
	// on its timing.
	if err := l.flush(flushMeta); err != nil {
		tb.Fatalf("persist rolled segments' metadata: %v", err)
	}
	return l, dir, sent
}

// batchPositions hops the batch headers of a segment file and returns the
// start of each batch plus the end of data.
func batchPositions(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pos []int64
	p := int64(0)
	for p+batchHeaderSize <= int64(len(data)) {
		h := parseHeader(data[p:])
		if h.BatchLength == 0 {
			break
		}
		pos = append(pos, p)
		p += h.Size()
	}
	return append(pos, p)
}

// checkPrefix asserts that l holds exactly sent[:n] at offsets from 0.
func checkPrefix(tb testing.TB, l *Log, sent [][]byte, n int) {
	tb.Helper()
	checkKept(tb, l, sent, indexRange(0, n))
	if end := sentEnd(sent, n); l.StartOffset() != 0 || l.HighWatermark() != end {
		tb.Fatalf("recovered offsets [%d, %d), want [0, %d)", l.StartOffset(), l.HighWatermark(), end)
	}
}

// indexRange returns [from, to).
func indexRange(from, to int) []int {
	out := make([]int, 0, max(to-from, 0))
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// sentEnd returns the offset after the first n sent batches.
func sentEnd(sent [][]byte, n int) int64 {
	end := int64(0)
	for _, b := range sent[:n] {
		end += int64(parseHeader(b).LastOffsetDelta) + 1
	}
	return end
}

// recoveredIndexes checks that l holds an in-order subset of sent, each
// batch byte-identical and at the offset it was first appended at (so
// recovery dropped batches but never renumbered or altered one), and
// returns which sent batches it holds.
func recoveredIndexes(tb testing.TB, l *Log, sent [][]byte) []int {
	tb.Helper()
	var idx []int
	k := 0
	for _, g := range readBatches(tb, l) {
		base := parseHeader(g).BaseOffset
		for k < len(sent) && sentEnd(sent, k) < base {
			k++
		}
		if k == len(sent) || sentEnd(sent, k) != base || !sameBatch(g, sent[k]) {
			tb.Fatalf("recovered batch at offset %d is not the batch appended there", base)
		}
		idx = append(idx, k)
		k++
	}
	return idx
}

// checkKept fails unless l holds exactly the sent batches want, at their
// original offsets.
func checkKept(tb testing.TB, l *Log, sent [][]byte, want []int) {
	tb.Helper()
	if got := recoveredIndexes(tb, l, sent); !slices.Equal(got, want) {
		tb.Fatalf("recovered batches %v, want %v", got, want)
	}
}

func TestCrashRecoveryWithoutClose(t *testing.T) {
	t.Parallel()
	for _, policy := range []Fsync{FsyncNever, FsyncInterval, FsyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			cfg := smallConfig()
			cfg.Fsync = policy
			l, dir, sent := buildLog(t, cfg, 20)
			if err := l.Sync(); err != nil { // recovery point mid-log
				t.Fatal(err)
			}
			for range 5 { // producer 5 is the only producer: its next sequence is HW
				b := makeBatch(batchSpec{producerID: 5, seq: int32(l.HighWatermark()), fill: 'z'})
				mustAppend(t, l, b)
				sent = append(sent, b)
			}
			crashed := copyDir(t, dir) // the Log is never closed for this copy
			if _, err := os.Stat(filepath.Join(crashed, cleanMarkerName)); !os.IsNotExist(err) {
				t.Fatal("crash copy unexpectedly has a clean marker")
			}
			r := openLog(t, crashed, cfg)
			checkPrefix(t, r, sent, len(sent))
			if r.MaxProducerID() != 5 {
				t.Fatalf("MaxProducerID after recovery = %d", r.MaxProducerID())
			}
			res, err := r.Append(sent[len(sent)-1], 0)
			if err != nil || !res.Duplicate {
				t.Fatalf("producer state not rebuilt: resend gave %+v, %v", res, err)
			}
		})
	}
}

func TestTornWriteRecovery(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	l, dir, sent := buildLog(t, cfg, 14)
	var files []string
	var pos []int64
	for {
		files = segmentFiles(t, dir)
		pos = batchPositions(t, files[len(files)-1])
		if len(pos)-1 >= 3 {
			break // the cases below need three batches in the active segment
		}
		b := makeBatch(batchSpec{producerID: 5, seq: int32(l.HighWatermark()), fill: '+'})
		mustAppend(t, l, b)
		sent = append(sent, b)
	}
	active := filepath.Base(files[len(files)-1])
	inActive := len(pos) - 1
	before := len(sent) - inActive // batches in sealed segments
	last, end := pos[inActive-1], pos[inActive]
	tests := []struct {
		name   string
		damage func(b []byte) []byte
		keep   int // batches of the active segment that survive
	}{
		{"truncated inside last header", func(b []byte) []byte { return b[:last+20] }, inActive - 1},
		{"truncated inside last records", func(b []byte) []byte { return b[:end-5] }, inActive - 1},
		{"truncated after length field", func(b []byte) []byte { return b[:last+batchLengthPrefix] }, inActive - 1},
		{"bit flip in last records", func(b []byte) []byte { b[end-3] ^= 0x10; return b }, inActive - 1},
		{"bit flip in second batch crc", func(b []byte) []byte { b[pos[1]+offCRC] ^= 1; return b }, 1},
		{"bit flip in second batch base offset", func(b []byte) []byte { b[pos[1]+7] ^= 4; return b }, 1},
		{"bad magic in last batch", func(b []byte) []byte { b[last+offMagic] = 1; return b }, inActive - 1},
		{"length past end of file", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[last+offBatchLength:], 1<<30)
			return b
		}, inActive - 1},
		{"last batch zeroed", func(b []byte) []byte { clear(b[last:end]); return b }, inActive - 1},
		{"garbage after the last batch", func(b []byte) []byte { copy(b[end:], bytes.Repeat([]byte{0xAB}, 100)); return b }, inActive},
		{"first batch zeroed", func(b []byte) []byte { clear(b[:pos[1]]); return b }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			crashed := copyDir(t, dir)
			path := filepath.Join(crashed, active)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(data), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := Open(crashed, cfg)
			if err != nil {
				t.Fatalf("Open damaged log: %v", err)
			}
			n := before + tt.keep
			checkPrefix(t, r, sent, n)
			// The log continues cleanly from the truncation point, and stale
			// bytes past it cannot come back after another crash.
			extra := makeBatch(plain(1, '!'))
			res := mustAppend(t, r, extra)
			if res.BaseOffset != r.HighWatermark()-1 {
				t.Fatalf("append after recovery at %d, HW %d", res.BaseOffset, r.HighWatermark())
			}
			again := openLog(t, copyDir(t, crashed), cfg)
			got := readBatches(t, again)
			if len(got) != n+1 || !sameBatch(got[n], extra) {
				t.Fatalf("second recovery: %d batches, want %d ending with the new one", len(got), n+1)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDamagedSealedSegmentKeepsLaterSegments: damage in a sealed segment
// costs that segment's tail from the damaged batch on, nothing more.
func TestDamagedSealedSegmentKeepsLaterSegments(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	_, dir, sent := buildLog(t, cfg, 14)
	crashed := copyDir(t, dir)
	files := segmentFiles(t, crashed)
	if len(files) < 4 {
		t.Fatalf("need >= 4 segments, have %d", len(files))
	}
	p0 := batchPositions(t, files[0])
	p1 := batchPositions(t, files[1])
	data, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	data[p1[1]+batchHeaderSize+3] ^= 0xFF // records of segment 1's second batch
	if err := os.WriteFile(files[1], data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := openLog(t, crashed, cfg)
	n0, n1 := len(p0)-1, len(p1)-1 // batches per segment (positions end with the end of data)
	lost := []int{n0 + 1, n0 + n1} // segment 1 from its second batch
	checkKept(t, r, sent, slices.Concat(indexRange(0, lost[0]), indexRange(lost[1], len(sent))))
	if left := segmentFiles(t, crashed); len(left) != len(files) {
		t.Fatalf("%d segments remain of %d: later segments must be kept", len(left), len(files))
	}
	if r.HighWatermark() != sentEnd(sent, len(sent)) {
		t.Fatalf("high watermark %d, want %d", r.HighWatermark(), sentEnd(sent, len(sent)))
	}
}

func TestUntrimmedSealedSegment(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	_, dir, sent := buildLog(t, cfg, 14)
	crashed := copyDir(t, dir)
	files := segmentFiles(t, crashed)
	// A crash between creating the next segment and trimming this one
	// leaves the preallocated zero tail.
	if err := os.Truncate(files[0], cfg.SegmentBytes); err != nil {
		t.Fatal(err)
	}
	r := openLog(t, crashed, cfg)
	checkPrefix(t, r, sent, len(sent))
	if st, _ := os.Stat(files[0]); st.Size() == cfg.SegmentBytes {
		t.Fatal("recovery did not trim the sealed segment")
	}
}

func TestCleanMarkerButTruncatedFile(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	l, dir, sent := buildLog(t, cfg, 14)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := segmentFiles(t, dir)
	pos := batchPositions(t, files[len(files)-1])
	if err := os.Truncate(files[len(files)-1], pos[len(pos)-1]-1); err != nil {
		t.Fatal(err)
	}
	r := openLog(t, dir, cfg)
	checkPrefix(t, r, sent, len(sent)-1)
}

func TestCorruptCheckpointValidatesEverything(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	l, dir, sent := buildLog(t, cfg, 14)
	if err := l.Sync(); err != nil { // recovery point at the end of the log
		t.Fatal(err)
	}
	crashed := copyDir(t, dir)
	if err := os.WriteFile(filepath.Join(crashed, checkpointName), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := segmentFiles(t, crashed)
	seg0Batches := len(batchPositions(t, files[0])) - 1
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	data[batchHeaderSize+5] ^= 1 // first batch's records: only a CRC check sees it
	if err := os.WriteFile(files[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := openLog(t, crashed, cfg)
	// Segment 0 is lost from its first batch; the later ones are kept.
	checkKept(t, r, sent, indexRange(seg0Batches, len(sent)))
}
