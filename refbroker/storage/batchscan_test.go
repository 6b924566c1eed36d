package storage

import (
	"bytes"
	"errors"
	"hash/crc32"
	"slices"
	"testing"
)

// feedInChunks fills a buffer holding prefix+run+suffix chunk bytes at a
// time, as readBody does, feeding s after each chunk. It returns the
// buffer and whether the run was reported done by the last feed.
func feedInChunks(s *BatchScan, whole []byte, runStart, runEnd, chunk int) (buf []byte, done bool) {
	s.Reset()
	s.Run(runStart, runEnd)
	buf = make([]byte, 0, len(whole))
	for len(buf) < len(whole) {
		buf = append(buf, whole[len(buf):min(len(whole), len(buf)+chunk)]...)
		done = s.Feed(buf)
	}
	return buf, done
}

// TestBatchScan: whatever the chunking, every batch of a run that tiles
// correctly gets the sum of exactly its bytes, and is found valid; a
// batch the run cannot hold, and everything after it, gets nothing, and
// so does a slice that is not the scanned memory.
func TestBatchScan(t *testing.T) {
	t.Parallel()
	a, b, c := makeBatch(plain(3, 'a')), makeBatch(plain(40, 'b')), makeBatch(plain(1, 'c'))
	overlong := slices.Clone(c)
	overlong[offBatchLength+3] += 10 // claims 10 bytes past the run
	short := slices.Clone(c)
	short[offBatchLength], short[offBatchLength+1], short[offBatchLength+2], short[offBatchLength+3] = 0, 0, 0, 1
	prefix, suffix := []byte("request fields before"), []byte("after")
	tests := []struct {
		name    string
		batches [][]byte
		summed  int // how many leading batches get a sum
	}{
		{"one batch", [][]byte{a}, 1},
		{"three batches", [][]byte{a, b, c}, 3},
		{"batch length past the run", [][]byte{a, overlong}, 1},
		{"batch length below the header", [][]byte{short, a}, 0},
		{"run shorter than a header", [][]byte{a, c[:offAttributes-1]}, 1},
	}
	for _, tt := range tests {
		run := slices.Concat(tt.batches...)
		whole := slices.Concat(prefix, run, suffix)
		runStart, runEnd := len(prefix), len(prefix)+len(run)
		for _, chunk := range []int{1, 7, 61, 4096, len(whole)} {
			var s BatchScan
			buf, done := feedInChunks(&s, whole, runStart, runEnd, chunk)
			if !done {
				t.Errorf("%s, chunks of %d: run not reported done with every byte in", tt.name, chunk)
			}
			pos := runStart
			for i, want := range tt.batches {
				batch := buf[pos : pos+len(want)]
				pos += len(want)
				sum := s.Check(buf, batch)
				if sum.Known() != (i < tt.summed) {
					t.Errorf("%s, chunks of %d: batch %d summed %v, want %v", tt.name, chunk, i, sum.Known(), i < tt.summed)
					continue
				}
				if sum.Known() && sum.crc != crc32.Checksum(batch[offAttributes:], castagnoli) {
					t.Errorf("%s, chunks of %d: batch %d sum %08x is not the CRC of its bytes", tt.name, chunk, i, sum.crc)
				}
				if sum.Known() && !sum.Valid() {
					t.Errorf("%s, chunks of %d: valid batch %d not found valid", tt.name, chunk, i)
				}
				// The same bytes elsewhere in memory are not what was summed.
				if s.Check(buf, bytes.Clone(batch)).Known() {
					t.Errorf("%s, chunks of %d: a copy of batch %d got a sum", tt.name, chunk, i)
				}
			}
		}
	}
}

// TestBatchScanLargeBatch: a batch above the default max.message.bytes
// gets its CRC but is not decoded on arrival (Append refuses it by size
// first, or validates it in full).
func TestBatchScanLargeBatch(t *testing.T) {
	t.Parallel()
	batch := makeBatch(batchSpec{records: 2, valueSize: DefaultMaxMessageBytes / 2, producerID: noProducer})
	var s BatchScan
	s.Run(0, len(batch))
	s.Feed(batch)
	c := s.Check(batch, batch)
	if !c.Known() || c.Valid() {
		t.Fatalf("%d-byte batch: sum %v, valid %v; want a sum only", len(batch), c.Known(), c.Valid())
	}
	if err := ValidateBatch(batch, c); err != nil {
		t.Fatalf("validate with the sum: %v", err)
	}
}

// TestBatchScanPartialFeed: a run is not done, and a batch not summed,
// before its last byte is in.
func TestBatchScanPartialFeed(t *testing.T) {
	t.Parallel()
	batch := makeBatch(plain(5, 'x'))
	var s BatchScan
	s.Run(0, len(batch))
	if s.Feed(batch[:len(batch)-1]) {
		t.Fatal("run done one byte short")
	}
	if s.Check(batch, batch).Known() {
		t.Fatal("batch summed one byte short")
	}
	if !s.Feed(batch) || !s.Check(batch, batch).Known() {
		t.Fatal("batch not summed once whole")
	}
}

// TestValidateWithCheck: a batch checked while it arrived is accepted
// without being checked again only when it passed; one whose bytes do
// not match its stored CRC, or that fails any other check with a right
// CRC, is found invalid by the scan and rejected by ValidateBatch and
// AppendChecked with the scan's result, storing nothing.
func TestValidateWithCheck(t *testing.T) {
	t.Parallel()
	good := makeBatch(plain(4, 'g'))
	flippedRecord := slices.Clone(good)
	flippedRecord[len(flippedRecord)-3] ^= 0x40
	flippedHeader := slices.Clone(good)
	flippedHeader[offBaseTimestamp] ^= 0x01
	flippedCRC := slices.Clone(good)
	flippedCRC[offCRC] ^= 0x80
	badMagic := slices.Clone(good)
	badMagic[offMagic] = 1
	resum(badMagic) // a right CRC: only the magic is wrong
	garbage := slices.Clone(good)
	for i := batchHeaderSize; i < len(garbage); i++ {
		garbage[i] = 0x7f
	}
	resum(garbage) // a right CRC over records that do not decode
	tests := []struct {
		name  string
		batch []byte
		want  error
	}{
		{"valid", good, nil},
		{"flipped record byte", flippedRecord, ErrCorruptBatch},
		{"flipped header byte", flippedHeader, ErrCorruptBatch},
		{"flipped CRC", flippedCRC, ErrCorruptBatch},
		{"bad magic, right CRC", badMagic, ErrCorruptBatch},
		{"garbage records, right CRC", garbage, ErrInvalidRecord},
	}
	for _, tt := range tests {
		var s BatchScan
		s.Run(0, len(tt.batch))
		s.Feed(tt.batch)
		sum := s.Check(tt.batch, tt.batch)
		if !sum.Known() || sum.Valid() != (tt.want == nil) {
			t.Fatalf("%s: scan found sum %v valid %v", tt.name, sum.Known(), sum.Valid())
		}
		err := ValidateBatch(tt.batch, sum)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%s: ValidateBatch = %v, want %v", tt.name, err, tt.want)
		}
		// And through Append: nothing is stored for a rejected batch.
		l, _ := newLog(t, smallConfig())
		_, err = l.AppendChecked(tt.batch, 0, sum)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%s: AppendChecked = %v, want %v", tt.name, err, tt.want)
		}
		wantHW := int64(0)
		if tt.want == nil {
			wantHW = 4
		}
		if hw := l.HighWatermark(); hw != wantHW {
			t.Errorf("%s: high watermark %d, want %d", tt.name, hw, wantHW)
		}
	}
}
