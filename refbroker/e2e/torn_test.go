package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// batchSpan locates one Kafka v2 record batch in a segment file.
type batchSpan struct {
	pos, end   int64 // file positions [pos, end)
	baseOffset int64
	records    int64
}

// scanSegment walks the batches of a segment file up to the first zero
// length (the preallocated, never written tail) or the end of the file.
func scanSegment(t testing.TB, data []byte) []batchSpan {
	t.Helper()
	var spans []batchSpan
	for pos := int64(0); pos+storage.BatchHeaderSize <= int64(len(data)); {
		h, err := storage.ParseBatchHeader(data[pos:])
		if err != nil || h.BatchLength <= 0 {
			break
		}
		end := pos + h.Size()
		if end > int64(len(data)) {
			t.Fatalf("segment: batch at %d runs past the end of the file", pos)
		}
		spans = append(spans, batchSpan{pos: pos, end: end, baseOffset: h.BaseOffset, records: int64(h.LastOffsetDelta) + 1})
		pos = end
	}
	return spans
}

// activeSegment returns the path of the newest segment of partition 0 of
// the only topic in dataDir (layout: <data-dir>/topics/<topic-id>/<p>/
// <base offset, 20 digits>.log).
func activeSegment(t testing.TB, dataDir string) string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dataDir, "topics", "*", "0", "*.log"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("find segment files in %s: %v (found %d)", dataDir, err, len(paths))
	}
	slices.Sort(paths) // zero-padded base offsets sort numerically
	return paths[len(paths)-1]
}

// damage is one way to break a segment tail. It edits data in place (the
// file's bytes, zero-filled preallocation included) and returns the new
// file size and the index of the first batch recovery must drop
// (len(spans) when nothing may be dropped).
type damage func(data []byte, spans []batchSpan) (size int64, firstBad int)

// flipRecordByte flips one bit inside the records of batch i, which only
// the CRC-32C can catch.
func flipRecordByte(data []byte, s batchSpan) {
	data[s.pos+storage.BatchHeaderSize+(s.end-s.pos-storage.BatchHeaderSize)/2] ^= 0x10
}

// TestTornWriteRecovery produces batches to the refbroker binary, kills it
// with SIGKILL, damages the tail of the active segment, restarts it and
// checks that recovery serves exactly the batches before the damage:
// end offset right, offsets contiguous, values the written prefix, every
// batch passing kgo's CRC check, and the log writable again at the right
// offset.
//
// The broker runs with --fsync never so that no background checkpoint
// moves the recovery point past the batches being damaged: like Kafka,
// refbroker fully validates only what lies after its recovery point, and
// trusts (does not CRC) what it flushed and checkpointed before a crash.
// Damage to checkpointed data is media corruption, outside the recovery
// contract; a torn or corrupt tail after a crash is exactly inside it.
func TestTornWriteRecovery(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("torn-write test runs the cmd/refbroker binary; skipped with -short")
	}
	for _, tc := range []struct {
		name string
		hurt damage
	}{
		{"torn last batch", func(data []byte, spans []batchSpan) (int64, int) {
			last := spans[len(spans)-1]
			return last.pos + (last.end-last.pos)/2, len(spans) - 1
		}},
		{"bit flip in last batch's records", func(data []byte, spans []batchSpan) (int64, int) {
			flipRecordByte(data, spans[len(spans)-1])
			return int64(len(data)), len(spans) - 1
		}},
		{"last batch length runs past the file", func(data []byte, spans []batchSpan) (int64, int) {
			data[spans[len(spans)-1].pos+8] = 0x7f
			return int64(len(data)), len(spans) - 1
		}},
		{"bit flip three batches back and torn tail", func(data []byte, spans []batchSpan) (int64, int) {
			bad := len(spans) - 4
			flipRecordByte(data, spans[bad])
			last := spans[len(spans)-1]
			return last.pos + 20, bad
		}},
		{"garbage after the last batch", func(data []byte, spans []batchSpan) (int64, int) {
			end := spans[len(spans)-1].end
			for i := end; i < end+100 && i < int64(len(data)); i++ {
				data[i] = byte(i*7 + 1)
			}
			return int64(len(data)), len(spans)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testTornWrite(t, tc.hurt)
		})
	}
}

func testTornWrite(t *testing.T, hurt damage) {
	const topic = "torn"
	p := newBrokerProc(t, "--fsync", "never", "--segment-bytes", "1048576")
	createTopic(t, newAdmin(t, p.Addr()), topic, 1)
	written := produceBatches(t, p.Addr(), topic, 20, 25)
	p.kill()

	path := activeSegment(t, p.dataDir)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read segment: %v", err)
	}
	spans := scanSegment(t, data)
	if n := len(spans); n < 5 || spans[n-1].baseOffset+spans[n-1].records != int64(len(written)) {
		t.Fatalf("segment %s holds %d batches; want >= 5 batches with all %d records", path, n, len(written))
	}
	size, firstBad := hurt(data, spans)
	if err := os.WriteFile(path, data[:size], 0o644); err != nil {
		t.Fatalf("write damaged segment: %v", err)
	}
	want := int64(len(written))
	if firstBad < len(spans) {
		want = spans[firstBad].baseOffset
	}
	p.start()
	checkRecovered(t, p.Addr(), topic, written[:want])
}

// produceBatches synchronously produces batches batches of perBatch
// records to partition 0 of topic and returns the values in offset order.
func produceBatches(t *testing.T, addr, topic string, batches, perBatch int) []string {
	t.Helper()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	defer cl.Close()
	var written []string
	for b := range batches {
		// One ProduceSync call per batch: kgo sends the records of one
		// call to one partition as one batch.
		recs := make([]*kgo.Record, perBatch)
		for i := range recs {
			v := fmt.Sprintf("b%02d-r%02d", b, i)
			written = append(written, v)
			recs[i] = &kgo.Record{Value: []byte(v)}
		}
		if err := cl.ProduceSync(testCtx(t, 30*time.Second), recs...).FirstErr(); err != nil {
			t.Fatalf("produce batch %d: %v", b, err)
		}
	}
	return written
}

// checkRecovered asserts that partition 0 of topic holds exactly want, at
// offsets 0..len(want)-1, and takes a new append at offset len(want).
func checkRecovered(t *testing.T, addr, topic string, want []string) {
	t.Helper()
	n := int64(len(want))
	if end := endOffsets(t, newAdmin(t, addr), topic); end[0] != n {
		t.Fatalf("end offset after recovery %d, want %d", end[0], n)
	}
	recs := readAll(t, addr, topic, map[int32]int64{0: n})[0]
	checkContiguous(t, map[int32][]consumedRecord{0: recs})
	var got []string
	for _, r := range recs {
		got = append(got, r.Value)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("recovered values are not the written prefix of %d records: got %d values", n, len(got))
	}

	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	r, err := cl.ProduceSync(testCtx(t, 30*time.Second), &kgo.Record{Value: []byte("after")}).First()
	if err != nil {
		t.Fatalf("produce after recovery: %v", err)
	}
	if r.Offset != n {
		t.Fatalf("first record after recovery got offset %d, want %d", r.Offset, n)
	}
	after := readAll(t, addr, topic, map[int32]int64{0: n + 1})[0]
	if len(after) != int(n)+1 || after[n].Value != "after" {
		t.Fatalf("after recovery and one append, read %d records, want %d ending with %q", len(after), n+1, "after")
	}
}
