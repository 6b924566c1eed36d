package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/internal/leakcheck"
)

// batchSpec describes a test batch; zero values give a non-idempotent batch
// of one 16-byte record with timestamp 1000.
type batchSpec struct {
	records    int   // default 1
	valueSize  int   // default 16
	timestamp  int64 // base timestamp (ms); default 1000
	producerID int64 // 0 is a real id; use noProducer for -1
	epoch      int16
	seq        int32
	fill       byte // value byte
	codec      int  // compression: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd (compressTest)
	// mangle edits the encoded records (after compression is skipped:
	// only for codec 0) before the header is finished, to build invalid
	// batches whose CRC is still right.
	mangle func([]byte) []byte
}

const noProducer = -1

// makeBatch encodes a valid Kafka v2 record batch with kmsg and a CRC-32C,
// as a producer would send it (baseOffset 0).
func makeBatch(s batchSpec) []byte {
	if s.records == 0 {
		s.records = 1
	}
	if s.valueSize == 0 {
		s.valueSize = 16
	}
	if s.timestamp == 0 {
		s.timestamp = 1000
	}
	var records []byte
	for i := range s.records {
		r := kmsg.Record{
			TimestampDelta64: int64(i),
			OffsetDelta:      int32(i),
			Key:              []byte{byte(i)},
			Value:            bytes.Repeat([]byte{s.fill}, s.valueSize),
		}
		body := r.AppendTo(nil) // Length 0 encodes as one varint byte
		r.Length = int32(len(body) - 1)
		records = r.AppendTo(records)
	}
	if s.mangle != nil {
		records = s.mangle(records)
	}
	records = compressTest(s.codec, records)
	rb := kmsg.RecordBatch{
		Magic:           2,
		Attributes:      int16(s.codec),
		LastOffsetDelta: int32(s.records - 1),
		FirstTimestamp:  s.timestamp,
		MaxTimestamp:    s.timestamp + int64(s.records-1),
		ProducerID:      s.producerID,
		ProducerEpoch:   s.epoch,
		FirstSequence:   s.seq,
		NumRecords:      int32(s.records),
		Records:         records,
	}
	if s.producerID < 0 {
		rb.ProducerEpoch, rb.FirstSequence = -1, -1
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-batchLengthPrefix))
	resum(b)
	return b
}

// resum recomputes the CRC-32C of b after a test modified it.
func resum(b []byte) {
	if err := PutBatchHeader(b, parseHeader(b)); err != nil {
		panic(err) // test batches always hold a header
	}
}

// plain returns a non-idempotent batch spec with n records and the fill byte.
func plain(n int, fill byte) batchSpec {
	return batchSpec{records: n, producerID: noProducer, fill: fill}
}

// smallConfig keeps segments tiny so tests roll often.
func smallConfig() Config {
	return Config{SegmentBytes: 4096, IndexIntervalBytes: 256, Fsync: FsyncNever, Logger: quietLogger()}
}

// quietLogger discards log output; set STORAGE_TEST_LOG=1 to see it.
func quietLogger() *slog.Logger {
	if os.Getenv("STORAGE_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}

// newLog opens a Log in a fresh temp dir, closed at cleanup.
func newLog(t testing.TB, cfg Config) (*Log, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "topic-0")
	return openLog(t, dir, cfg), dir
}

// openLog opens dir and closes the Log at cleanup.
func openLog(t testing.TB, dir string, cfg Config) *Log {
	t.Helper()
	// Tests run under the leak check (checked after the Close below);
	// benchmarks do not, since it captures a stack per Read.
	if _, bench := t.(*testing.B); cfg.OnLeak == nil && !bench {
		cfg.OnLeak = leakcheck.New(t)
	}
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// mustAppend appends b and fails the test on error.
func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(b, 7)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

// readBatches reads the whole log [StartOffset, HighWatermark) and returns
// each batch as a copy, checking CRCs and that offsets only increase (a
// gap is where recovery dropped a damaged segment's tail).
func readBatches(t testing.TB, l *Log) [][]byte {
	t.Helper()
	var out [][]byte
	next := l.StartOffset()
	for next < l.HighWatermark() {
		r, err := l.Read(next, 1<<20)
		if err != nil {
			t.Fatalf("Read(%d): %v", next, err)
		}
		if len(r.Data) == 0 {
			// Only a gap at the end of the log (recovery cut out the
			// damaged tail of segments before an emptied active one)
			// reads empty below the high watermark: offsets are never
			// handed out twice, so the gap stays until the next append.
			for _, s := range l.segs {
				if s.next > next && s.size > 0 {
					t.Fatalf("Read(%d) below HW %d returned no data, but segment %d holds [%d, %d)", next, l.HighWatermark(), s.base, s.base, s.next)
				}
			}
			break
		}
		for data := r.Data; len(data) > 0; {
			h := parseHeader(data)
			b := data[:h.Size()]
			if err := checkCRC(b, BatchCheck{}); err != nil {
				t.Fatalf("batch at offset %d: %v", h.BaseOffset, err)
			}
			if h.BaseOffset < next {
				t.Fatalf("batch base offset %d, want at least %d", h.BaseOffset, next)
			}
			out = append(out, bytes.Clone(b))
			next = h.LastOffset() + 1
			data = data[h.Size():]
		}
		r.Release()
	}
	return out
}

// sameBatch reports whether stored equals sent except for the two fields
// the log patches (baseOffset, partitionLeaderEpoch).
func sameBatch(stored, sent []byte) bool {
	return len(stored) == len(sent) &&
		bytes.Equal(stored[offBatchLength:offLeaderEpoch], sent[offBatchLength:offLeaderEpoch]) &&
		bytes.Equal(stored[offMagic:], sent[offMagic:])
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

// copyDir copies the regular files of src into a new temp dir, simulating
// the state a crash would leave (the page cache is what survives a process
// crash, and that is what reading the files returns).
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			// Renamed or removed since the listing (the background
			// flusher installs index files and snapshots while the log
			// is open): a crash at this moment would not leave it either.
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// segmentFiles lists the segment files in dir.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// isErr is errors.Is for table rows where want may be nil.
func isErr(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}
