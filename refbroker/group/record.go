package group

import (
	"encoding/binary"
	"fmt"

	"github.com/brokerbench/brokerbench/refbroker/internal/framelog"
)

// The offsets log is a framelog log (uint32 BE payload length, uint32 BE
// CRC-32C of the payload, payload); each payload is one record, whose
// first byte is its kind. Records:
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

	// frameHeader is the size of a frame header, before the kind byte.
	// framelog.MaxPayload (64 MiB) bounds a record: a commit of 100k
	// partitions is ~5 MB.
	frameHeader = framelog.HeaderSize
)

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
	return framelog.AppendFrame(dst, func(dst []byte) []byte { return appendPayload(dst, rec) })
}

// appendPayload encodes rec's payload, kind byte first.
func appendPayload(dst []byte, rec *record) []byte {
	dst = append(dst, rec.kind)
	switch rec.kind {
	case kindCommit:
		dst = framelog.AppendString(dst, rec.group)
		dst = framelog.AppendString(dst, rec.protocolType)
		dst = binary.AppendUvarint(dst, uint64(len(rec.entries)))
		for _, e := range rec.entries {
			dst = framelog.AppendString(dst, e.topic)
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
		dst = framelog.AppendString(dst, rec.group)
	case kindDeleteTopic:
		dst = framelog.AppendString(dst, rec.topic)
	}
	return dst
}

// decodeLog decodes the frames of data and returns their records and the
// position after the last one. A short, oversized, checksum-failing or
// undecodable frame costs only itself (framelog.Scan resynchronizes on
// the next whole frame); a torn tail is dropped. decodeLog never panics,
// whatever data holds. Recovery replays
// through framelog.Open directly; this is the same scan collecting records.
func decodeLog(data []byte) (recs []record, valid int) {
	valid, _ = framelog.Scan(data, func(payload []byte) error {
		rec, err := decodePayload(payload)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
		return nil
	})
	return recs, valid
}

// nullableStr reads a string written as a varint length (-1 for null)
// and its bytes.
func nullableStr(d *framelog.Decoder, what string) *string {
	n := d.Varint(what)
	if n == -1 {
		return nil
	}
	if n < 0 {
		d.Fail(what)
		return nil
	}
	s := string(d.Bytes(uint64(n), what))
	return &s
}

// decodePayload decodes one record. Errors wrap ErrCorruptRecord.
func decodePayload(p []byte) (record, error) {
	if len(p) == 0 {
		return record{}, fmt.Errorf("%w: empty payload", ErrCorruptRecord)
	}
	d := framelog.NewDecoder(p[1:])
	rec := record{kind: p[0]}
	switch rec.kind {
	case kindCommit:
		rec.group = d.String("group")
		rec.protocolType = d.String("protocol type")
		n := d.Uvarint("entry count")
		// Each entry takes at least 5 bytes, which bounds n by the
		// payload and so bounds the allocation.
		if n > uint64(d.Len())/5 {
			d.Fail("entry count")
		}
		rec.entries = make([]offsetEntry, 0, n)
		for i := uint64(0); i < n && d.Err() == nil; i++ {
			var e offsetEntry
			e.topic = d.String("topic")
			e.partition = d.Int32("partition")
			e.offset = d.Varint("offset")
			e.leaderEpoch = d.Int32("leader epoch")
			e.metadata = nullableStr(d, "metadata")
			rec.entries = append(rec.entries, e)
		}
	case kindDeleteGroup:
		rec.group = d.String("group")
	case kindDeleteTopic:
		rec.topic = d.String("topic")
	default:
		return record{}, fmt.Errorf("%w: unknown record kind %d", ErrCorruptRecord, rec.kind)
	}
	if err := d.Finish(); err != nil {
		return record{}, fmt.Errorf("%w: %w", ErrCorruptRecord, err)
	}
	return rec, nil
}
