package share

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
)

// The state log is a sequence of frames:
//
//	u32 payload length | u32 CRC-32C of payload | payload
//
// and a payload is one of
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

	frameHeader = 8
	// maxFrame bounds a frame's payload so a corrupt length cannot make
	// recovery allocate gigabytes.
	maxFrame = 64 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

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

// appendFrame encodes f onto dst.
func appendFrame(dst []byte, f *frame) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = append(dst, f.kind)
	dst = appendStr(dst, f.group)
	switch f.kind {
	case kindPartition:
		dst = append(dst, f.tp.topic[:]...)
		dst = binary.AppendVarint(dst, int64(f.tp.partition))
		dst = binary.AppendVarint(dst, f.spso)
		slices.SortFunc(f.entries, func(a, b persistEntry) int { return cmpInt(a.off, b.off) })
		dst = binary.AppendUvarint(dst, uint64(len(f.entries)))
		prev := f.spso
		for _, e := range f.entries {
			dst = binary.AppendUvarint(dst, uint64(e.off-prev))
			dst = append(dst, byte(e.state))
			dst = binary.AppendUvarint(dst, uint64(e.count))
			prev = e.off
		}
	case kindConfig:
		keys := make([]string, 0, len(f.configs))
		for k := range f.configs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = binary.AppendUvarint(dst, uint64(len(keys)))
		for _, k := range keys {
			dst = appendStr(appendStr(dst, k), f.configs[k])
		}
	}
	payload := dst[start+frameHeader:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crcTable))
	return dst
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func appendStr(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// decodeLog decodes every valid frame of data and returns them with the
// length of the valid prefix.
func decodeLog(data []byte) (frames []frame, valid int) {
	for valid < len(data) {
		f, n, err := decodeFrame(data[valid:])
		if err != nil {
			return frames, valid
		}
		frames = append(frames, f)
		valid += n
	}
	return frames, valid
}

var errTorn = errors.New("torn frame")

// decodeFrame decodes the frame at the start of b and returns its size.
func decodeFrame(b []byte) (frame, int, error) {
	if len(b) < frameHeader {
		return frame{}, 0, errTorn
	}
	n := binary.BigEndian.Uint32(b)
	if n > maxFrame || int(n) > len(b)-frameHeader {
		return frame{}, 0, errTorn
	}
	payload := b[frameHeader : frameHeader+int(n)]
	if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(b[4:]) {
		return frame{}, 0, fmt.Errorf("%w: CRC mismatch", errTorn)
	}
	f, err := decodePayload(payload)
	if err != nil {
		return frame{}, 0, err
	}
	return f, frameHeader + int(n), nil
}

// decoder reads varints and strings, remembering the first failure.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("decode share frame: truncated or invalid %s", what)
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

func (d *decoder) bytesN(n uint64, what string) []byte {
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str(what string) string { return string(d.bytesN(d.uvarint(what), what)) }

// decodePayload decodes one frame payload.
func decodePayload(p []byte) (frame, error) {
	d := &decoder{b: p}
	var f frame
	kind := d.bytesN(1, "kind")
	if d.err != nil {
		return f, d.err
	}
	f.kind = kind[0]
	f.group = d.str("group")
	switch f.kind {
	case kindPartition:
		copy(f.tp.topic[:], d.bytesN(16, "topic ID"))
		f.tp.partition = int32(d.varint("partition"))
		f.spso = d.varint("spso")
		n := d.uvarint("entry count")
		if n > uint64(len(d.b)) { // each entry takes at least 3 bytes
			d.fail("entry count")
		}
		prev := f.spso
		for i := uint64(0); i < n && d.err == nil; i++ {
			off := prev + int64(d.uvarint("offset"))
			st := d.bytesN(1, "state")
			cnt := d.uvarint("count")
			if d.err != nil {
				break
			}
			if RecordState(st[0]) > StateArchived || RecordState(st[0]) == StateAcquired || cnt > maxDeliveryLimit {
				d.fail("record state")
				break
			}
			f.entries = append(f.entries, persistEntry{off: off, state: RecordState(st[0]), count: int32(cnt)})
			prev = off
		}
	case kindConfig:
		n := d.uvarint("config count")
		if n > uint64(len(d.b)) {
			d.fail("config count")
		}
		f.configs = make(map[string]string, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			k := d.str("config key")
			f.configs[k] = d.str("config value")
		}
	default:
		return f, fmt.Errorf("decode share frame: unknown kind %d", f.kind)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return f, d.err
}
