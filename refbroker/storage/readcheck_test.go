package storage

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"
)

// TestReadDamagedSegment: a sealed segment damaged after a clean close
// (trusted at open: no CRC is read) is checked on its first read. Reads
// before the damaged batch are served, a read at it fails with
// ErrCorruptBatch naming segment and position, and nothing panics or
// loops, whatever the damage.
func TestReadDamagedSegment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(data []byte, pos int64)
	}{
		{"negative batch length", func(d []byte, p int64) { binary.BigEndian.PutUint32(d[p+offBatchLength:], uint32(0xfffffff4)) }}, // -12
		{"batch length past the file", func(d []byte, p int64) { binary.BigEndian.PutUint32(d[p+offBatchLength:], 1<<30) }},
		{"batch length below a header", func(d []byte, p int64) { binary.BigEndian.PutUint32(d[p+offBatchLength:], 20) }},
		{"flipped payload byte", func(d []byte, p int64) { d[p+batchHeaderSize+2] ^= 0x10 }},
		{"bad magic", func(d []byte, p int64) { d[p+offMagic] = 7 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := smallConfig()
			l, dir, sent := buildLog(t, cfg, 14)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			files := segmentFiles(t, dir)
			pos := batchPositions(t, files[1])
			data, err := os.ReadFile(files[1])
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(data, pos[1]) // the second batch of segment 1
			if err := os.WriteFile(files[1], data, 0o644); err != nil {
				t.Fatal(err)
			}
			r := openLog(t, dir, cfg)
			n0 := len(batchPositions(t, files[0])) - 1
			good := sentEnd(sent, n0+1) // segment 0 and the first batch of segment 1
			done := make(chan error, 1)
			go func() {
				rr, err := r.Read(good-1, 1<<20)
				if err == nil {
					if h := parseHeader(rr.Data); h.BaseOffset > good-1 || int64(len(rr.Data)) != h.Size() {
						err = errors.New("read before the damage did not return exactly the last good batch")
					}
					rr.Release()
				}
				if err == nil {
					_, err = r.Read(good, 1<<20)
					if err == nil {
						err = errors.New("read at the damaged batch succeeded")
					} else if !errors.Is(err, ErrCorruptBatch) {
						err = errors.New("read at the damaged batch: " + err.Error() + ", want ErrCorruptBatch")
					} else {
						err = nil
					}
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Read did not return: it loops on the damaged batch")
			}
			// The log still takes appends.
			mustAppend(t, r, makeBatch(plain(1, 'z')))
		})
	}
}

// TestPreallocationGrowsWithUse: an active segment preallocates
// preallocStep, not SegmentBytes, and grows as it fills; it still rolls at
// SegmentBytes.
func TestPreallocationGrowsWithUse(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	cfg.SegmentBytes = 8 << 20
	l, dir := newLog(t, cfg)
	fileSize := func() int64 {
		t.Helper()
		files := segmentFiles(t, dir)
		st, err := os.Stat(files[len(files)-1])
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	if got := fileSize(); got != preallocStep {
		t.Fatalf("new partition preallocates %d bytes, want %d", got, preallocStep)
	}
	batch := makeBatch(batchSpec{records: 1, valueSize: 100 << 10, producerID: noProducer})
	for range 15 { // about 1.5 MiB
		mustAppend(t, l, batch)
	}
	if got := fileSize(); got <= preallocStep || got >= cfg.SegmentBytes {
		t.Fatalf("after 1.5 MiB the segment file is %d bytes, want between %d and %d", got, preallocStep, cfg.SegmentBytes)
	}
	for range 80 { // past SegmentBytes: a roll
		mustAppend(t, l, batch)
	}
	if n := len(segmentFiles(t, dir)); n != 2 {
		t.Fatalf("%d segments after 9.5 MiB with 8 MiB segments, want 2", n)
	}
	if got := len(readBatches(t, l)); got != 95 {
		t.Fatalf("read %d batches, want 95", got)
	}
}
