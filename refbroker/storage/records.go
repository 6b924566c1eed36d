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
// make the broker allocate without bound (a "zip bomb").
const DefaultMaxDecompressedBytes = 256 << 20

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
	be := binary.BigEndian
	attrs := be.Uint16(b[offAttributes:])
	count := int32(be.Uint32(b[offRecordCount:]))
	if count < 0 {
		return fmt.Errorf("%w: negative record count %d", ErrInvalidRecord, count)
	}
	raw, put, err := decompress(int(attrs&attrCompressionMask), b[batchHeaderSize:], maxDecompressed)
	if err != nil {
		return err
	}
	defer put()
	h := parseHeader(b)
	baseTs := int64(be.Uint64(b[offBaseTimestamp:]))
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
			ts = h.maxTimestamp
		}
		if !fn(Record{Offset: h.baseOffset + int64(i), Timestamp: ts}) {
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

// decode reads one record from b and returns what follows it.
func (r *recordFields) decode(b []byte) ([]byte, error) {
	length, n := binary.Varint(b)
	if n <= 0 || length <= 0 || length > int64(len(b)-n) {
		return nil, fmt.Errorf("%w: record length %d with %d bytes left", ErrInvalidRecord, length, len(b)-max(n, 0))
	}
	body, rest := b[n:n+int(length)], b[n+int(length):]
	d := varReader{b: body[1:]} // attributes byte: unused in v2
	r.timestampDelta = d.varint()
	r.offsetDelta = d.varint32()
	d.bytes() // key
	d.bytes() // value
	headers := d.varint32()
	if headers < 0 {
		d.fail()
	}
	for range headers {
		if d.err != nil {
			break
		}
		if kl := d.varint32(); kl < 0 { // header keys are not nullable
			d.fail()
		} else {
			d.skip(int64(kl))
		}
		d.bytes()
	}
	if d.err == nil && len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes left inside a record", ErrInvalidRecord, len(d.b))
	}
	return rest, d.err
}

// varReader reads Kafka's zigzag varints and length-prefixed fields,
// remembering the first error.
type varReader struct {
	b   []byte
	err error
}

func (d *varReader) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: record fields overrun the record", ErrInvalidRecord)
	}
	d.b = nil
}

func (d *varReader) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *varReader) varint32() int32 {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int32(v)
}

func (d *varReader) skip(n int64) {
	if n < 0 || n > int64(len(d.b)) {
		d.fail()
		return
	}
	d.b = d.b[n:]
}

// bytes skips a nullable length-prefixed field (-1 is null).
func (d *varReader) bytes() {
	if l := d.varint32(); l >= 0 {
		d.skip(int64(l))
	} else if l < -1 {
		d.fail()
	}
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
