package storage

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/refbroker/internal/leakcheck"
)

func TestAppendReadRoundTripAcrossRolls(t *testing.T) {
	t.Parallel()
	l, dir := newLog(t, smallConfig())
	var sent [][]byte
	want := int64(0)
	for i := range 40 {
		b := makeBatch(batchSpec{records: 1 + i%5, valueSize: 100 + 10*i, producerID: noProducer, fill: byte(i)})
		res := mustAppend(t, l, b)
		if res.BaseOffset != want || res.Duplicate || res.LogAppendTime != -1 {
			t.Fatalf("batch %d: result %+v, want base %d", i, res, want)
		}
		want += int64(1 + i%5)
		sent = append(sent, b)
	}
	if got := l.HighWatermark(); got != want {
		t.Fatalf("HighWatermark = %d, want %d", got, want)
	}
	if n := len(segmentFiles(t, dir)); n < 5 {
		t.Fatalf("expected several segment rolls, got %d segment files", n)
	}
	got := readBatches(t, l)
	if len(got) != len(sent) {
		t.Fatalf("read %d batches, appended %d", len(got), len(sent))
	}
	var size int64
	for i := range got {
		if !sameBatch(got[i], sent[i]) {
			t.Fatalf("batch %d differs from what was appended", i)
		}
		if epoch := int32(binary.BigEndian.Uint32(got[i][offLeaderEpoch:])); epoch != 7 {
			t.Fatalf("batch %d leader epoch %d, want 7", i, epoch)
		}
		size += int64(len(got[i]))
	}
	if l.Size() != size {
		t.Fatalf("Size = %d, want %d", l.Size(), size)
	}
	// Sealed segments are trimmed to their logical size; the active one is
	// preallocated to SegmentBytes.
	files := segmentFiles(t, dir)
	if st, err := os.Stat(files[len(files)-1]); err != nil || st.Size() != 4096 {
		t.Fatalf("active segment not preallocated to 4096 bytes: %v, %v", st.Size(), err)
	}
	for _, f := range files[:len(files)-1] {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 4096 || st.Size() == 0 {
			t.Fatalf("sealed segment %s has size %d, want trimmed to (0, 4096]", f, st.Size())
		}
	}
}

func TestAppendDoesNotRetainCallerSlice(t *testing.T) {
	t.Parallel()
	l, _ := newLog(t, smallConfig())
	b := makeBatch(plain(2, 'a'))
	orig := append([]byte(nil), b...)
	mustAppend(t, l, b)
	if string(b) != string(orig) {
		t.Fatal("Append modified the caller's slice")
	}
	for i := range b {
		b[i] = 0xFF
	}
	if got := readBatches(t, l); !sameBatch(got[0], orig) {
		t.Fatal("stored batch changed when the caller reused its slice")
	}
}

func TestBigBatchGetsItsOwnSegment(t *testing.T) {
	t.Parallel()
	l, _ := newLog(t, smallConfig())
	small := makeBatch(plain(1, 's'))
	big := makeBatch(batchSpec{records: 3, valueSize: 5000, producerID: noProducer, fill: 'B'})
	mustAppend(t, l, small)
	mustAppend(t, l, big)
	mustAppend(t, l, small)
	got := readBatches(t, l)
	if len(got) != 3 || !sameBatch(got[1], big) || !sameBatch(got[2], small) {
		t.Fatalf("read %d batches, want small, big, small", len(got))
	}
}

func TestReadMaxBytes(t *testing.T) {
	t.Parallel()
	l, _ := newLog(t, Config{SegmentBytes: 1 << 20, Fsync: FsyncNever})
	b := makeBatch(plain(3, 'x'))
	for range 10 {
		mustAppend(t, l, b)
	}
	n := len(b)
	tests := []struct {
		name      string
		offset    int64
		maxBytes  int
		wantBytes int
	}{
		{"at least one batch even with maxBytes 0", 0, 0, n},
		{"at least one batch when the first exceeds maxBytes", 4, 1, n},
		{"offset inside a batch starts at that batch", 5, n, n},
		{"whole batches only", 0, 2*n + n/2, 2 * n},
		{"everything", 0, 1 << 20, 10 * n},
		{"last batch", 29, 1 << 20, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := l.Read(tt.offset, tt.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Release()
			if len(r.Data) != tt.wantBytes {
				t.Fatalf("got %d bytes, want %d", len(r.Data), tt.wantBytes)
			}
			if h := parseHeader(r.Data); h.BaseOffset > tt.offset || h.LastOffset() < tt.offset {
				t.Fatalf("first batch [%d, %d] does not contain %d", h.BaseOffset, h.LastOffset(), tt.offset)
			}
		})
	}
}

func TestReadNeverCrossesSegments(t *testing.T) {
	t.Parallel()
	l, _ := newLog(t, smallConfig())
	b := makeBatch(batchSpec{records: 1, valueSize: 1500, producerID: noProducer})
	for range 4 {
		mustAppend(t, l, b) // two per 4 KiB segment
	}
	r, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if len(r.Data) != 2*len(b) {
		t.Fatalf("Read returned %d bytes, want the first segment's %d", len(r.Data), 2*len(b))
	}
}

func TestReadOffsetRange(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	cfg.RetentionBytes = 1
	l, _ := newLog(t, cfg)
	b := makeBatch(batchSpec{records: 2, valueSize: 1500, producerID: noProducer})
	for range 6 {
		mustAppend(t, l, b)
	}
	if err := l.EnforceRetention(time.Now()); err != nil {
		t.Fatal(err)
	}
	start, hw := l.StartOffset(), l.HighWatermark()
	if start == 0 {
		t.Fatal("retention did not advance StartOffset")
	}
	tests := []struct {
		name    string
		offset  int64
		wantErr error
		empty   bool
	}{
		{"below start", start - 1, ErrOffsetOutOfRange, false},
		{"negative", -1, ErrOffsetOutOfRange, false},
		{"above high watermark", hw + 1, ErrOffsetOutOfRange, false},
		{"at high watermark is empty", hw, nil, true},
		{"at start", start, nil, false},
		{"last offset", hw - 1, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := l.Read(tt.offset, 100)
			if !isErr(err, tt.wantErr) {
				t.Fatalf("Read(%d) error %v, want %v", tt.offset, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer r.Release()
			if (len(r.Data) == 0) != tt.empty {
				t.Fatalf("Read(%d) returned %d bytes, want empty=%v", tt.offset, len(r.Data), tt.empty)
			}
		})
	}
}

func TestAppendRejectsBadBatches(t *testing.T) {
	t.Parallel()
	l, _ := newLog(t, smallConfig())
	good := makeBatch(plain(2, 'g'))
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name  string
		batch []byte
		want  error
	}{
		{"too short", good[:40], ErrCorruptBatch},
		{"length mismatch", append(append([]byte(nil), good...), 0), ErrCorruptBatch},
		{"bad crc", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorruptBatch},
		{"magic 1", mutate(func(b []byte) []byte { b[offMagic] = 1; return b }), ErrCorruptBatch},
		{"count mismatch", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offRecordCount:], 5)
			resum(b)
			return b
		}), ErrCorruptBatch},
		{"negative lastOffsetDelta", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offLastOffDelta:], 0xFFFFFFFF)
			resum(b)
			return b
		}), ErrCorruptBatch},
		{"transactional", mutate(func(b []byte) []byte { b[offAttributes+1] |= attrTransactional; resum(b); return b }), ErrUnsupported},
		{"control", mutate(func(b []byte) []byte { b[offAttributes+1] |= attrControl; resum(b); return b }), ErrUnsupported},
		{"unknown codec", mutate(func(b []byte) []byte { b[offAttributes+1] |= 7; resum(b); return b }), ErrCorruptBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.Append(tt.batch, 0); !errors.Is(err, tt.want) {
				t.Fatalf("Append error %v, want %v", err, tt.want)
			}
		})
	}
	if l.HighWatermark() != 0 || l.Size() != 0 {
		t.Fatalf("rejected batches changed the log: HW %d size %d", l.HighWatermark(), l.Size())
	}
}

func TestRetentionBytesKeepsHeldReads(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	cfg.RetentionBytes = 5000
	l, dir := newLog(t, cfg)
	b := makeBatch(batchSpec{records: 1, valueSize: 1500, producerID: noProducer, fill: 'r'})
	for range 10 {
		mustAppend(t, l, b)
	}
	held, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), held.Data...)
	if err := l.EnforceRetention(time.Now()); err != nil {
		t.Fatal(err)
	}
	if l.Size() > cfg.RetentionBytes {
		t.Fatalf("Size %d still above RetentionBytes %d", l.Size(), cfg.RetentionBytes)
	}
	if l.StartOffset() == 0 || l.HighWatermark() != 10 {
		t.Fatalf("start %d hw %d after retention", l.StartOffset(), l.HighWatermark())
	}
	if _, err := l.Read(0, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read of deleted offset: %v, want ErrOffsetOutOfRange", err)
	}
	if string(held.Data) != string(want) {
		t.Fatal("held read data changed after retention")
	}
	deleted, _ := filepath.Glob(filepath.Join(dir, "*"+deletedSuffix))
	if len(deleted) != 1 {
		t.Fatalf("held segment should linger as one *.deleted file, found %v", deleted)
	}
	held.Release()
	held.Release() // idempotent
	deleted, _ = filepath.Glob(filepath.Join(dir, "*"+deletedSuffix))
	if len(deleted) != 0 {
		t.Fatalf("deleted segment files remain after Release: %v", deleted)
	}
	if got := readBatches(t, l); int64(len(got)) != l.HighWatermark()-l.StartOffset() {
		t.Fatalf("retained %d batches for offsets [%d, %d)", len(got), l.StartOffset(), l.HighWatermark())
	}
}

func TestRetentionTime(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	cfg.Retention = time.Hour
	l, _ := newLog(t, cfg)
	now := time.UnixMilli(10_000_000)
	old := now.Add(-2 * time.Hour).UnixMilli()
	for i := range 6 {
		ts := old
		if i >= 4 {
			ts = now.UnixMilli()
		}
		mustAppend(t, l, makeBatch(batchSpec{valueSize: 1500, producerID: noProducer, timestamp: ts}))
	}
	// Segments: [0,1] old, [2,3] old, [4,5] new (active).
	if err := l.EnforceRetention(now); err != nil {
		t.Fatal(err)
	}
	if got := l.StartOffset(); got != 4 {
		t.Fatalf("StartOffset after time retention = %d, want 4", got)
	}
	// The active segment is never deleted, however old.
	if err := l.EnforceRetention(now.Add(100 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 4 || l.HighWatermark() != 6 {
		t.Fatalf("active segment deleted: start %d hw %d", l.StartOffset(), l.HighWatermark())
	}
}

func TestDeleteWithHeldRead(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "p")
	l, err := Open(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	b := makeBatch(batchSpec{valueSize: 1500, producerID: noProducer, fill: 'd'})
	for range 5 {
		mustAppend(t, l, b)
	}
	held, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), held.Data...)
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if string(held.Data) != string(want) {
		t.Fatal("held data changed after Delete")
	}
	if _, err := l.Read(0, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Delete: %v, want ErrClosed", err)
	}
	held.Release()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory still exists after Delete and last Release: %v", err)
	}
	if err := l.Delete(); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestOffsetForTime(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	cfg.IndexIntervalBytes = 1 // index every batch to exercise the index path
	l, _ := newLog(t, cfg)
	// Timestamps are deliberately not monotonic across batches.
	stamps := []int64{100, 300, 200, 500, 400, 900, 600}
	for _, ts := range stamps {
		mustAppend(t, l, makeBatch(batchSpec{records: 2, valueSize: 900, producerID: noProducer, timestamp: ts}))
	}
	// Batch i holds offsets 2i, 2i+1 with timestamps stamps[i] and
	// stamps[i]+1; the answer is the first record at or after the target.
	tests := []struct {
		ts         int64
		wantOffset int64
		wantTs     int64
		ok         bool
	}{
		{0, 0, 100, true},
		{101, 1, 101, true}, // the second record of the first batch
		{102, 2, 300, true}, // batch 2 (200) is later in the log than batch 1 (300)
		{250, 2, 300, true},
		{302, 6, 500, true},
		{502, 10, 900, true},
		{901, 11, 901, true},
		{902, 0, 0, false},
	}
	for _, tt := range tests {
		off, ts, ok := l.OffsetForTime(tt.ts)
		if off != tt.wantOffset || ts != tt.wantTs || ok != tt.ok {
			t.Errorf("OffsetForTime(%d) = (%d, %d, %v), want (%d, %d, %v)", tt.ts, off, ts, ok, tt.wantOffset, tt.wantTs, tt.ok)
		}
	}
}

func TestWaitWakesOnAppend(t *testing.T) {
	t.Parallel()
	l, _ := newLog(t, smallConfig())
	ch := l.Wait()
	if ch2 := l.Wait(); ch2 != ch {
		t.Fatal("Wait returned a different channel without an append in between")
	}
	select {
	case <-ch:
		t.Fatal("Wait channel closed before any append")
	default:
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		mustAppend(t, l, makeBatch(plain(1, 'w')))
	}()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait channel not closed by Append")
	}
	<-done
	if l.HighWatermark() != 1 {
		t.Fatalf("HW %d after wakeup", l.HighWatermark())
	}
	next := l.Wait()
	select {
	case <-next:
		t.Fatal("new Wait channel already closed")
	default:
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan struct{}{next, l.Wait()} {
		select {
		case <-ch:
		default:
			t.Fatal("Wait channel not closed after Close")
		}
	}
}

func TestReopenAfterCleanClose(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "p")
	l, err := Open(dir, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	var sent [][]byte
	for i := range 12 {
		b := makeBatch(batchSpec{records: 2, valueSize: 700, producerID: 42, epoch: 3, seq: int32(2 * i), timestamp: int64(1000 + i)})
		mustAppend(t, l, b)
		sent = append(sent, b)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Append(sent[0], 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if err := l.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close: %v, want ErrClosed", err)
	}
	if err := l.EnforceRetention(time.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("EnforceRetention after Close: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanMarkerName)); err != nil {
		t.Fatalf("clean marker missing after Close: %v", err)
	}
	files := segmentFiles(t, dir)
	if st, _ := os.Stat(files[len(files)-1]); st.Size() >= 4096 {
		t.Fatalf("active segment not trimmed at Close: %d bytes", st.Size())
	}

	l2 := openLog(t, dir, smallConfig())
	if _, err := os.Stat(filepath.Join(dir, cleanMarkerName)); !os.IsNotExist(err) {
		t.Fatalf("clean marker not removed at Open: %v", err)
	}
	if l2.HighWatermark() != 24 || l2.MaxProducerID() != 42 {
		t.Fatalf("reopened HW %d MaxProducerID %d, want 24, 42", l2.HighWatermark(), l2.MaxProducerID())
	}
	got := readBatches(t, l2)
	for i := range sent {
		if !sameBatch(got[i], sent[i]) {
			t.Fatalf("batch %d differs after reopen", i)
		}
	}
	// Producer state survived: the last batch is a duplicate, the next
	// sequence is accepted.
	res, err := l2.Append(sent[11], 0)
	if err != nil || !res.Duplicate || res.BaseOffset != 22 {
		t.Fatalf("resend after reopen: %+v, %v; want duplicate of offset 22", res, err)
	}
	res = mustAppend(t, l2, makeBatch(batchSpec{producerID: 42, epoch: 3, seq: 24}))
	if res.BaseOffset != 24 {
		t.Fatalf("append after reopen got offset %d, want 24", res.BaseOffset)
	}
	if off, _, ok := l2.OffsetForTime(1005); !ok || off != 9 { // batch 4: records at 1004 and 1005
		t.Fatalf("OffsetForTime after reopen = %d, %v; want 9", off, ok)
	}
}

func TestConcurrentReadersAndWriter(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	cfg.RetentionBytes = 16 << 10
	cfg.Fsync = FsyncInterval
	cfg.FsyncInterval = time.Millisecond
	l, _ := newLog(t, cfg)
	const batches = 300
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			next := int64(0)
			for next < batches {
				ch := l.Wait()
				res, err := l.Read(next, 1000*(r+1))
				if errors.Is(err, ErrOffsetOutOfRange) {
					next = l.StartOffset() // retention overtook this reader
					continue
				}
				if err != nil {
					t.Errorf("Read(%d): %v", next, err)
					return
				}
				if len(res.Data) == 0 {
					<-ch
					continue
				}
				for data := res.Data; len(data) > 0; {
					h := parseHeader(data)
					if err := checkCRC(data[:h.Size()], BatchCheck{}); err != nil || h.BaseOffset != next {
						t.Errorf("reader %d: batch at %d (want %d): %v", r, h.BaseOffset, next, err)
					}
					next = h.LastOffset() + 1
					data = data[h.Size():]
				}
				res.Release()
			}
		})
	}
	b := makeBatch(batchSpec{valueSize: 400, producerID: noProducer})
	for i := range batches {
		mustAppend(t, l, b)
		if i%50 == 0 {
			if err := l.EnforceRetention(time.Now()); err != nil {
				t.Error(err)
			}
		}
	}
	wg.Wait()
}

func TestFsyncPoliciesAdvanceRecoveryPoint(t *testing.T) {
	t.Parallel()
	for _, policy := range []Fsync{FsyncInterval, FsyncAlways, FsyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			cfg := smallConfig()
			cfg.Fsync, cfg.FsyncInterval = policy, 5*time.Millisecond
			l, dir := newLog(t, cfg)
			b := makeBatch(batchSpec{valueSize: 1500, producerID: noProducer})
			for range 5 {
				mustAppend(t, l, b) // two per segment: the last is alone in segment 4
			}
			want := recoveryPoint{base: 4, pos: int64(len(b))}
			reached := func() bool {
				rp, ok, err := readRecoveryPoint(dir)
				return err == nil && ok && rp == want
			}
			if policy == FsyncNever {
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 10*time.Second, "recovery point at the end of the log", reached)
		})
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"never", "interval", "always"} {
		f, err := ParseFsync(s)
		if err != nil || f.String() != s {
			t.Errorf("ParseFsync(%q) = %v, %v", s, f, err)
		}
	}
	if _, err := ParseFsync("sometimes"); err == nil {
		t.Error("ParseFsync accepted an unknown policy")
	}
	d := Config{}.Default()
	if d.SegmentBytes != DefaultSegmentBytes || d.IndexIntervalBytes != 4096 || d.FsyncInterval != time.Second || d.Logger == nil || d.Fsync != FsyncInterval {
		t.Errorf("defaults: %+v", d)
	}
	bad := []Config{
		{SegmentBytes: 10},
		{SegmentBytes: 1 << 40},
		{IndexIntervalBytes: -1},
		{Fsync: Fsync(9)},
		{FsyncInterval: -time.Second},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", c)
		}
		c.Logger = quietLogger()
		if _, err := Open(t.TempDir(), c); err == nil {
			t.Errorf("Open accepted %+v", c)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config invalid: %v", err)
	}
}

// TestLeakCheckFindsUnreleasedReads: the leak check (Config.OnLeak) that
// every storage and broker test runs under reports a read result dropped
// without Release, with the stack of its Read, and stays quiet about
// released ones; without this the check itself could be silently broken.
func TestLeakCheckFindsUnreleasedReads(t *testing.T) {
	rec := &leakcheck.Recorder{}
	l, _ := newLog(t, Config{OnLeak: rec.Report})
	mustAppend(t, l, makeBatch(batchSpec{}))
	released, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	released.Release()
	func() {
		r, err := l.Read(0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		_ = r.Data // dropped unreleased
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.Leaks()) == 0 && time.Now().Before(deadline) { // Leaks collects and waits
	}
	leaks := rec.Leaks()
	if len(leaks) != 1 {
		t.Fatalf("%d leaks reported, want 1 (the dropped read only)", len(leaks))
	}
	if !strings.Contains(string(leaks[0]), "TestLeakCheckFindsUnreleasedReads") {
		t.Errorf("leak stack does not name the reading test:\n%s", leaks[0])
	}
}
