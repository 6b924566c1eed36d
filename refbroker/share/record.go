package share

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/brokerbench/brokerbench/refbroker/internal/framelog"
)

// The state log is a framelog log (u32 payload length | u32 CRC-32C of
// payload | payload), and a payload is one of
//
//	kindPartition: group, topic ID (16 bytes), partition, SPSO, then the
//	  changed records as (offset delta from the previous entry (the first
//	  from SPSO), state byte, delivery count)
//	kindConfig:    group, then all of the group's configs as key/value
//	  pairs (the frame replaces the previous set)
//
// with strings as uvarint length + bytes and integers as (u)varints.
// Recovery replays frames in order and stops at the first torn or corrupt
// one, which is where an interrupted append ends.
const (
	kindPartition byte = 1
	kindConfig    byte = 2
)

// tp names a partition by topic ID.
type tp struct {
	topic     [16]byte
	partition int32
}

// frame is one decoded payload.
type frame struct {
	kind    byte
	group   string
	tp      tp
	spso    int64
	entries []persistEntry
	configs map[string]string
}

// appendFrame encodes f onto dst as one frame.
func appendFrame(dst []byte, f *frame) []byte {
	return framelog.AppendFrame(dst, func(dst []byte) []byte { return appendPayload(dst, f) })
}

// appendPayload encodes f's payload, kind byte first.
func appendPayload(dst []byte, f *frame) []byte {
	dst = append(dst, f.kind)
	dst = framelog.AppendString(dst, f.group)
	switch f.kind {
	case kindPartition:
		dst = append(dst, f.tp.topic[:]...)
		dst = binary.AppendVarint(dst, int64(f.tp.partition))
		dst = binary.AppendVarint(dst, f.spso)
		slices.SortFunc(f.entries, func(a, b persistEntry) int { return cmp.Compare(a.off, b.off) })
		dst = binary.AppendUvarint(dst, uint64(len(f.entries)))
		prev := f.spso
		for _, e := range f.entries {
			dst = binary.AppendUvarint(dst, uint64(e.off-prev))
			dst = append(dst, byte(e.state))
			dst = binary.AppendUvarint(dst, uint64(e.count))
			prev = e.off
		}
	case kindConfig:
		keys := slices.Sorted(maps.Keys(f.configs))
		dst = binary.AppendUvarint(dst, uint64(len(keys)))
		for _, k := range keys {
			dst = framelog.AppendString(framelog.AppendString(dst, k), f.configs[k])
		}
	}
	return dst
}

// decodeLog decodes every valid frame of data and returns them with the
// length of the valid prefix (see framelog.Scan). Recovery replays through
// framelog.Open directly; this is the same scan collecting frames.
func decodeLog(data []byte) (frames []frame, valid int) {
	valid, _ = framelog.Scan(data, func(payload []byte) error {
		f, err := decodePayload(payload)
		if err != nil {
			return err
		}
		frames = append(frames, f)
		return nil
	})
	return frames, valid
}

// decodePayload decodes one frame payload.
func decodePayload(p []byte) (frame, error) {
	d := framelog.NewDecoder(p)
	var f frame
	kind := d.Bytes(1, "kind")
	if d.Err() != nil {
		return f, d.Err()
	}
	f.kind = kind[0]
	f.group = d.String("group")
	switch f.kind {
	case kindPartition:
		copy(f.tp.topic[:], d.Bytes(16, "topic ID"))
		f.tp.partition = int32(d.Varint("partition"))
		f.spso = d.Varint("spso")
		n := d.Uvarint("entry count")
		if n > uint64(d.Len()) { // each entry takes at least 3 bytes
			d.Fail("entry count")
		}
		prev := f.spso
		for i := uint64(0); i < n && d.Err() == nil; i++ {
			off := prev + int64(d.Uvarint("offset"))
			st := d.Bytes(1, "state")
			cnt := d.Uvarint("count")
			if d.Err() != nil {
				break
			}
			if RecordState(st[0]) > StateArchived || RecordState(st[0]) == StateAcquired || cnt > maxDeliveryLimit {
				d.Fail("record state")
				break
			}
			f.entries = append(f.entries, persistEntry{off: off, state: RecordState(st[0]), count: int32(cnt)})
			prev = off
		}
	case kindConfig:
		n := d.Uvarint("config count")
		if n > uint64(d.Len()) {
			d.Fail("config count")
		}
		f.configs = make(map[string]string, n)
		for i := uint64(0); i < n && d.Err() == nil; i++ {
			k := d.String("config key")
			f.configs[k] = d.String("config value")
		}
	default:
		return f, fmt.Errorf("%w: unknown share frame kind %d", framelog.ErrCorrupt, f.kind)
	}
	return f, d.Finish()
}
