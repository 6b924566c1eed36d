package group

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The offsets log is a sequence of frames:
//
//	uint32 big-endian  payload length
//	uint32 big-endian  CRC-32C of the payload
//	payload            one record, first byte is its kind
//
// Records:
//
//	kindCommit:      group, protocolType, uvarint n, n × (topic, varint partition, varint offset, varint leaderEpoch, nullable metadata)
//	kindDeleteGroup: group
//	kindDeleteTopic: topic
//
// Strings are uvarint length + bytes; a nullable string is a varint length,
// -1 for null. One OffsetCommit request is one frame, so a commit is atomic
// across its partitions: after a crash either all of it or none of it is
// recovered.
const (
	kindCommit      byte = 1
	kindDeleteGroup byte = 2
	kindDeleteTopic byte = 3

	frameHeader = 8
	// maxPayload bounds a frame so a corrupt length cannot make recovery
	// allocate gigabytes. A commit of 100k partitions is ~5 MB.
	maxPayload = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// offsetEntry is one committed partition inside a commit record.
type offsetEntry struct {
	topic     string
	partition int32
	committed
}

// record is one decoded log record.
type record struct {
	kind         byte
	group        string // commit, delete group
	protocolType string // commit
	topic        string // delete topic
	entries      []offsetEntry
}

// appendFrame encodes rec as one frame appended to dst.
func appendFrame(dst []byte, rec *record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = append(dst, rec.kind)
	switch rec.kind {
	case kindCommit:
		dst = appendStr(dst, rec.group)
		dst = appendStr(dst, rec.protocolType)
		dst = binary.AppendUvarint(dst, uint64(len(rec.entries)))
		for _, e := range rec.entries {
			dst = appendStr(dst, e.topic)
			dst = binary.AppendVarint(dst, int64(e.partition))
			dst = binary.AppendVarint(dst, e.offset)
			dst = binary.AppendVarint(dst, int64(e.leaderEpoch))
			if e.metadata == nil {
				dst = binary.AppendVarint(dst, -1)
			} else {
				dst = binary.AppendVarint(dst, int64(len(*e.metadata)))
				dst = append(dst, *e.metadata...)
			}
		}
	case kindDeleteGroup:
		dst = appendStr(dst, rec.group)
	case kindDeleteTopic:
		dst = appendStr(dst, rec.topic)
	}
	payload := dst[start+frameHeader:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeLog decodes frames from the start of data. It returns the records
// of the longest valid prefix and that prefix's length. A short, oversized,
// checksum-failing or undecodable frame ends the prefix: that is the torn
// tail of a write interrupted by a crash, and everything from it on is
// dropped. decodeLog never panics, whatever data holds.
func decodeLog(data []byte) (recs []record, valid int) {
	for {
		rec, n, err := decodeFrame(data[valid:])
		if err != nil {
			return recs, valid
		}
		recs = append(recs, rec)
		valid += n
	}
}

// errShort marks a buffer that ends before the frame does (including an
// empty one: the clean end of the log).
var errShort = fmt.Errorf("%w: short frame", ErrCorruptRecord)

// decodeFrame decodes the frame at the start of b and returns its length.
func decodeFrame(b []byte) (record, int, error) {
	if len(b) < frameHeader {
		return record{}, 0, errShort
	}
	n := binary.BigEndian.Uint32(b)
	if n == 0 || n > maxPayload {
		return record{}, 0, fmt.Errorf("%w: payload length %d", ErrCorruptRecord, n)
	}
	if uint64(len(b)-frameHeader) < uint64(n) {
		return record{}, 0, errShort
	}
	payload := b[frameHeader : frameHeader+int(n)]
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return record{}, 0, fmt.Errorf("%w: checksum mismatch", ErrCorruptRecord)
	}
	rec, err := decodePayload(payload)
	if err != nil {
		return record{}, 0, err
	}
	return rec, frameHeader + int(n), nil
}

// decoder reads payload fields, remembering the first failure so the
// decoding code stays linear.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorruptRecord, what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int32(what string) int32 {
	v := d.varint(what)
	if v < -1<<31 || v > 1<<31-1 {
		d.fail(what)
		return 0
	}
	return int32(v)
}

func (d *decoder) bytesN(n uint64, what string) string {
	if n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) str(what string) string { return d.bytesN(d.uvarint(what), what) }

func (d *decoder) nullableStr(what string) *string {
	n := d.varint(what)
	if n == -1 {
		return nil
	}
	if n < 0 {
		d.fail(what)
		return nil
	}
	s := d.bytesN(uint64(n), what)
	return &s
}

func decodePayload(p []byte) (record, error) {
	d := &decoder{b: p[1:]}
	rec := record{kind: p[0]}
	switch rec.kind {
	case kindCommit:
		rec.group = d.str("group")
		rec.protocolType = d.str("protocol type")
		n := d.uvarint("entry count")
		// Each entry takes at least 5 bytes, which bounds n by the
		// payload and so bounds the allocation.
		if n > uint64(len(d.b))/5 {
			d.fail("entry count")
		}
		rec.entries = make([]offsetEntry, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			var e offsetEntry
			e.topic = d.str("topic")
			e.partition = d.int32("partition")
			e.offset = d.varint("offset")
			e.leaderEpoch = d.int32("leader epoch")
			e.metadata = d.nullableStr("metadata")
			rec.entries = append(rec.entries, e)
		}
	case kindDeleteGroup:
		rec.group = d.str("group")
	case kindDeleteTopic:
		rec.topic = d.str("topic")
	default:
		return record{}, fmt.Errorf("%w: unknown record kind %d", ErrCorruptRecord, rec.kind)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return record{}, d.err
	}
	return rec, nil
}
