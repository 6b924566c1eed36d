package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Record is what the broker needs of one record of a batch: its offset
// and its timestamp (CreateTime, or the batch's LogAppendTime).
type Record struct {
	Offset    int64
	Timestamp int64
}

// attrLogAppendTime is the timestamp-type bit of the batch attributes.
const attrLogAppendTime = 0x08

// DefaultMaxDecompressedBytes bounds what one batch may decompress to
// when the caller passes no limit, so a small compressed batch cannot
// make the broker allocate without bound (a "zip bomb"). Producers bound
// their batches by uncompressed size (kgo and librdkafka default to
// 1 MB), so a legitimate batch is far below it.
const DefaultMaxDecompressedBytes = 64 << 20

// WalkRecords decodes every record of batch b, decompressing it first,
// and calls fn with each (fn may be nil). It checks what Kafka's
// LogValidator checks for magic v2 input: the records decompress with the
// batch's codec to at most maxDecompressed bytes (0 means
// DefaultMaxDecompressedBytes), there are exactly recordCount of them
// with no trailing bytes, each record's fields lie within its length, and
// offset deltas run 0, 1, 2, ... as a producer must write them. Decoding
// failures are ErrCorruptBatch (CORRUPT_MESSAGE), record-level violations
// ErrInvalidRecord (INVALID_RECORD). b's header must be structurally valid
// (validateBatch or a recovered segment); WalkRecords does not check the CRC.
func WalkRecords(b []byte, maxDecompressed int, fn func(Record) bool) error {
	if len(b) < batchHeaderSize {
		return fmt.Errorf("%w: %d bytes is shorter than the %d-byte v2 header", ErrCorruptBatch, len(b), batchHeaderSize)
	}
	if maxDecompressed <= 0 {
		maxDecompressed = DefaultMaxDecompressedBytes
	}
	h := parseHeader(b)
	attrs, count := uint16(h.Attributes), h.NumRecords
	if count < 0 {
		return fmt.Errorf("%w: negative record count %d", ErrInvalidRecord, count)
	}
	raw, put, err := decompress(int(attrs&attrCompressionMask), b[batchHeaderSize:], maxDecompressed)
	if err != nil {
		return err
	}
	defer put()
	baseTs := h.BaseTimestamp
	// Each record takes at least 7 bytes (length, attributes, timestamp
	// and offset deltas, key and value lengths, header count), so a
	// count the bytes cannot hold is rejected before any loop.
	if int64(count)*7 > int64(len(raw)) {
		return fmt.Errorf("%w: record count %d cannot fit in %d bytes of records", ErrInvalidRecord, count, len(raw))
	}
	rest := raw
	for i := range count {
		var r recordFields
		if rest, err = r.decode(rest); err != nil {
			return fmt.Errorf("record %d of %d: %w", i, count, err)
		}
		if r.offsetDelta != i {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, i, r.offsetDelta)
		}
		if fn == nil {
			continue
		}
		ts := baseTs + r.timestampDelta
		if attrs&attrLogAppendTime != 0 {
			ts = h.MaxTimestamp
		}
		if !fn(Record{Offset: h.BaseOffset + int64(i), Timestamp: ts}) {
			return nil
		}
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d bytes after the %d records the header counts", ErrInvalidRecord, len(rest), count)
	}
	return nil
}

// recordFields are the decoded fixed fields of one record.
type recordFields struct {
	timestampDelta int64
	offsetDelta    int32
}

// decode reads one record from b and returns what follows it. It works
// on positions, with -1 for "overran the record", so that the common
// one-byte varints decode inline: validation runs on every produced
// record and must stay a small fraction of produce's cost.
func (r *recordFields) decode(b []byte) ([]byte, error) {
	length, n := varintAt(b, 0)
	if n <= 0 {
		return nil, fmt.Errorf("%w: records end before this record's length (%d bytes left)", ErrInvalidRecord, len(b))
	}
	if length <= 0 || length > int64(len(b)-n) {
		return nil, fmt.Errorf("%w: record length %d with %d bytes left", ErrInvalidRecord, length, len(b)-n)
	}
	body, rest := b[n:n+int(length)], b[n+int(length):]
	var offsetDelta, headers int64
	i := 1 // the attributes byte, unused in v2
	r.timestampDelta, i = varintAt(body, i)
	offsetDelta, i = varintAt(body, i)
	i = skipField(body, i, true) // key
	i = skipField(body, i, true) // value
	headers, i = varintAt(body, i)
	if headers < 0 || headers > int64(len(body)) {
		i = -1
	}
	for h := int64(0); h < headers && i >= 0; h++ {
		i = skipField(body, i, false) // header key, not nullable
		i = skipField(body, i, true)  // header value
	}
	switch {
	case i < 0 || offsetDelta < math.MinInt32 || offsetDelta > math.MaxInt32:
		return nil, fmt.Errorf("%w: record fields overrun the record's %d bytes", ErrInvalidRecord, len(body))
	case i != len(body):
		return nil, fmt.Errorf("%w: %d bytes left inside a record", ErrInvalidRecord, len(body)-i)
	}
	r.offsetDelta = int32(offsetDelta)
	return rest, nil
}

// varintAt decodes the zigzag varint at b[i:] and returns it and the
// position after it; i < 0 or a bad varint gives -1. One- and two-byte
// varints (every field of a record up to 8 KiB but timestamps) take the
// fast path without binary.Varint; validation walks every produced
// record.
func varintAt(b []byte, i int) (int64, int) {
	if uint(i) < uint(len(b)) { // and i >= 0
		x := uint64(b[i])
		if x < 0x80 {
			return int64(x>>1) ^ -int64(x&1), i + 1
		}
		if i+1 < len(b) && b[i+1] < 0x80 {
			x = x&0x7f | uint64(b[i+1])<<7
			return int64(x>>1) ^ -int64(x&1), i + 2
		}
	}
	return varintSlow(b, i)
}

// varintSlow is varintAt's multi-byte and error path, kept apart so that
// varintAt inlines.
func varintSlow(b []byte, i int) (int64, int) {
	if i < 0 || i >= len(b) {
		return 0, -1
	}
	v, n := binary.Varint(b[i:])
	if n <= 0 {
		return 0, -1
	}
	return v, i + n
}

// skipField skips a length-prefixed field at b[i:] (-1 is null when
// nullable) and returns the position after it, or -1.
func skipField(b []byte, i int, nullable bool) int {
	l, i := varintAt(b, i)
	switch {
	case i < 0:
		return -1
	case l == -1 && nullable:
		return i
	case l < 0 || l > int64(len(b)-i):
		return -1
	}
	return i + int(l)
}

// decompressBufs recycles decompression output buffers.
var decompressBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// zstdDecoder is shared: DecodeAll is safe for concurrent use.
var zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(DefaultMaxDecompressedBytes))
	if err != nil {
		panic(fmt.Sprintf("storage: zstd decoder: %v", err)) // only on invalid options
	}
	return d
})

// decompress returns the records of a batch compressed with codec, and a
// func that returns its buffer to the pool once the caller is done.
func decompress(codec int, in []byte, limit int) ([]byte, func(), error) {
	if codec == 0 {
		return in, func() {}, nil
	}
	buf := decompressBufs.Get().(*bytes.Buffer)
	buf.Reset()
	put := func() {
		if buf.Cap() <= 4<<20 { // do not keep one huge batch's buffer
			decompressBufs.Put(buf)
		}
	}
	var err error
	switch codec {
	case 1:
		err = readLimited(buf, func() (io.Reader, error) { return gzip.NewReader(bytes.NewReader(in)) }, limit)
	case 2:
		err = unsnappy(buf, in, limit)
	case 3:
		err = readLimited(buf, func() (io.Reader, error) { return lz4.NewReader(bytes.NewReader(in)), nil }, limit)
	case 4:
		var out []byte
		if size, herr := zstdFrameSize(in); herr == nil && size > uint64(limit) {
			err = fmt.Errorf("frame declares %d bytes", size)
		} else if out, err = zstdDecoder().DecodeAll(in, buf.Bytes()[:0]); err == nil {
			buf = bytes.NewBuffer(out)
		}
	default:
		err = fmt.Errorf("unknown codec %d", codec)
	}
	if err == nil && buf.Len() > limit {
		err = fmt.Errorf("decompresses to more than %d bytes", limit)
	}
	if err != nil {
		put()
		return nil, nil, fmt.Errorf("%w: records do not decompress with codec %d: %w", ErrCorruptBatch, codec, err)
	}
	return buf.Bytes(), put, nil
}

// readLimited copies at most limit+1 bytes from the reader open makes.
func readLimited(buf *bytes.Buffer, open func() (io.Reader, error), limit int) error {
	r, err := open()
	if err != nil {
		return err
	}
	_, err = buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	return err
}

// zstdFrameSize returns the content size a zstd frame header declares.
func zstdFrameSize(in []byte) (uint64, error) {
	var h zstd.Header
	if err := h.Decode(in); err != nil {
		return 0, err
	}
	if !h.HasFCS {
		return 0, fmt.Errorf("no frame content size")
	}
	return h.FrameContentSize, nil
}

// xerialMagic opens snappy data in the Java client's framing (xerial
// snappy-java): magic, two int32 versions, then chunks of int32 length
// and a snappy block. Other clients send one raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

func unsnappy(buf *bytes.Buffer, in []byte, limit int) error {
	if !bytes.HasPrefix(in, xerialMagic) {
		return snappyBlock(buf, in, limit)
	}
	if len(in) < 16 {
		return fmt.Errorf("xerial snappy header truncated")
	}
	for rest := in[16:]; len(rest) > 0; {
		if len(rest) < 4 {
			return fmt.Errorf("xerial chunk length truncated")
		}
		n := binary.BigEndian.Uint32(rest)
		if int64(n) > int64(len(rest)-4) {
			return fmt.Errorf("xerial chunk of %d bytes, %d left", n, len(rest)-4)
		}
		if err := snappyBlock(buf, rest[4:4+n], limit); err != nil {
			return err
		}
		rest = rest[4+n:]
	}
	return nil
}

// snappyBlock appends one decoded snappy block to buf.
func snappyBlock(buf *bytes.Buffer, block []byte, limit int) error {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return err
	}
	if n > limit-buf.Len() {
		return fmt.Errorf("snappy block declares %d bytes", n)
	}
	buf.Grow(n)
	out := buf.AvailableBuffer()[:n]
	if _, err := s2.Decode(out, block); err != nil {
		return err
	}
	buf.Write(out)
	return nil
}

// RecordAtTime returns the first record of batch b whose timestamp is at
// least ts, as ListOffsets answers a time lookup.
func RecordAtTime(b []byte, ts int64) (Record, bool, error) {
	var found Record
	ok := false
	err := WalkRecords(b, 0, func(r Record) bool {
		if r.Timestamp >= ts {
			found, ok = r, true
		}
		return !ok
	})
	return found, ok, err
}
