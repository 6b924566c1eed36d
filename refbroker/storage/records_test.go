package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// compressTest compresses records with codec as producers do (snappy as
// one raw block; xerialSnappy wraps it in the Java framing).
func compressTest(codec int, records []byte) []byte {
	var buf bytes.Buffer
	switch codec {
	case 0:
		return records
	case 1:
		w := gzip.NewWriter(&buf)
		w.Write(records)
		w.Close()
	case 2:
		return s2.EncodeSnappy(nil, records)
	case 3:
		w := lz4.NewWriter(&buf)
		w.Write(records)
		w.Close()
	case 4:
		enc, _ := zstd.NewWriter(nil)
		return enc.EncodeAll(records, nil)
	default:
		panic(fmt.Sprintf("codec %d", codec))
	}
	return buf.Bytes()
}

// xerialSnappy frames one snappy block as the Java client does.
func xerialSnappy(records []byte) []byte {
	block := s2.EncodeSnappy(nil, records)
	out := append([]byte(nil), xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1) // version
	out = binary.BigEndian.AppendUint32(out, 1) // compatible version
	out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
	return append(out, block...)
}

// setCount rewrites a batch's record count and lastOffsetDelta and
// recomputes the CRC, so only the records contradict the header.
func setCount(b []byte, n int32) []byte {
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(n))
	binary.BigEndian.PutUint32(b[offLastOffDelta:], uint32(n-1))
	resum(b)
	return b
}

// setCodec sets the compression bits of b and recomputes the CRC.
func setCodec(b []byte, codec uint16) []byte {
	binary.BigEndian.PutUint16(b[offAttributes:], codec)
	resum(b)
	return b
}

// replaceRecords swaps b's records for recs, fixing length and CRC.
func replaceRecords(b, recs []byte) []byte {
	out := append(append([]byte(nil), b[:batchHeaderSize]...), recs...)
	binary.BigEndian.PutUint32(out[offBatchLength:], uint32(len(out)-batchLengthPrefix))
	resum(out)
	return out
}

func TestValidateBatchRecords(t *testing.T) {
	t.Parallel()
	three := batchSpec{records: 3, producerID: noProducer}
	withCodec := func(c int) batchSpec { s := three; s.codec = c; return s }
	xerial := makeBatch(three)
	xerial = setCodec(replaceRecords(xerial, xerialSnappy(xerial[batchHeaderSize:])), 2)
	bomb := makeBatch(batchSpec{records: 1, valueSize: 2 << 20, producerID: noProducer, codec: 4})
	tests := []struct {
		name  string
		batch []byte
		want  error // nil, ErrCorruptBatch or ErrInvalidRecord
		limit int   // decompression limit; 0 is the default
	}{
		{"uncompressed", makeBatch(three), nil, 0},
		{"gzip", makeBatch(withCodec(1)), nil, 0},
		{"snappy block", makeBatch(withCodec(2)), nil, 0},
		{"snappy in xerial framing (Java client)", xerial, nil, 0},
		{"lz4", makeBatch(withCodec(3)), nil, 0},
		{"zstd", makeBatch(withCodec(4)), nil, 0},
		{"count larger than the records", setCount(makeBatch(three), 4), ErrInvalidRecord, 0},
		{"count smaller than the records", setCount(makeBatch(three), 2), ErrInvalidRecord, 0},
		{"count of a million", setCount(makeBatch(three), 1_000_000), ErrInvalidRecord, 0},
		{"compressed count larger than the records", setCount(makeBatch(withCodec(1)), 4), ErrInvalidRecord, 0},
		{"gzip flag on plain records", setCodec(makeBatch(three), 1), ErrCorruptBatch, 0},
		{"zstd flag on gzip records", setCodec(makeBatch(withCodec(1)), 4), ErrCorruptBatch, 0},
		{"garbage records", replaceRecords(makeBatch(three), bytes.Repeat([]byte{0x7f}, 40)), ErrInvalidRecord, 0},
		{"record length past the end", replaceRecords(makeBatch(batchSpec{producerID: noProducer}), []byte{0x40, 0, 0, 0, 0, 0, 0, 0}), ErrInvalidRecord, 0},
		{"trailing bytes", replaceRecords(makeBatch(three), append(makeBatch(three)[batchHeaderSize:], 0)), ErrInvalidRecord, 0},
		{"offset deltas not 0, 1, 2", makeBatch(batchSpec{records: 3, producerID: noProducer, mangle: swapFirstDeltas}), ErrInvalidRecord, 0},
		{"decompresses past the limit", bomb, ErrCorruptBatch, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WalkRecords(tt.batch, tt.limit, nil)
			if tt.want == nil {
				_, err = validateBatch(tt.batch, BatchCheck{}) // the whole producer-input check
			}
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// swapFirstDeltas exchanges the offset deltas of the first two records
// (0 and 1) of makeBatch's records, which share one layout: length,
// attributes, timestamp delta, offset delta.
func swapFirstDeltas(recs []byte) []byte {
	_, n := binary.Varint(recs)
	first := int(recs[0]>>1) + n // one-byte zigzag length
	recs[n+2] = 2                // zigzag(1): the first record claims delta 1
	recs[first+n+2] = 0          // and the second delta 0
	return recs
}

func TestRecordAtTime(t *testing.T) {
	t.Parallel()
	b := makeBatch(batchSpec{records: 4, timestamp: 5000, producerID: noProducer, codec: 1})
	binary.BigEndian.PutUint64(b[offBaseOffset:], 100)
	for _, tt := range []struct {
		ts     int64
		want   int64
		wantOK bool
	}{{0, 100, true}, {5001, 101, true}, {5003, 103, true}, {5004, 0, false}} {
		r, ok, err := RecordAtTime(b, tt.ts)
		if err != nil || ok != tt.wantOK || (ok && (r.Offset != tt.want || r.Timestamp < tt.ts)) {
			t.Errorf("RecordAtTime(%d) = %+v, %v, %v; want offset %d, %v", tt.ts, r, ok, err, tt.want, tt.wantOK)
		}
	}
	// LogAppendTime: every record has the batch's max timestamp.
	setCodec(b, 1|attrLogAppendTime)
	if r, ok, err := RecordAtTime(b, 5003); err != nil || !ok || r.Offset != 100 || r.Timestamp != 5003 {
		t.Errorf("LogAppendTime: %+v, %v, %v; want offset 100 at 5003", r, ok, err)
	}
}

// BenchmarkValidateBatch measures the produce-side check per codec: the
// header and CRC (what was checked before records were decoded) and the
// whole validation, on a 1,000-record batch of 100-byte values (about
// 110 kB), the shape of a benchmark producer's batch, and uncompressed
// on 1,000 records of 1 KiB.
func BenchmarkValidateBatch(b *testing.B) {
	for codec, name := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		batch := makeBatch(batchSpec{records: 1000, valueSize: 100, producerID: noProducer, codec: codec})
		b.Run(name+"/header+crc", func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				h := parseHeader(batch)
				if err := checkStructure(&h); err != nil {
					b.Fatal(err)
				}
				if err := checkCRC(batch, BatchCheck{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/full", func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := validateBatch(batch, BatchCheck{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The batch BenchmarkBrokerEfficiency's producer sends: 1 KiB
	// values, about 1 MB. Its cost per GB is what validation adds to
	// that benchmark's broker CPU.
	batch := makeBatch(batchSpec{records: 1000, valueSize: 1024, producerID: noProducer})
	b.Run("none-1KiB/full", func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := validateBatch(batch, BatchCheck{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
