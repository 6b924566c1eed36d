package framelog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

const (
	// HeaderSize is the size in bytes of a frame header: payload length
	// and checksum.
	HeaderSize = 8
	// MaxPayload bounds a payload (64 MiB) so that a corrupt length
	// cannot make recovery allocate gigabytes. Larger frames are
	// rejected by ReadFrame, hence by recovery.
	MaxPayload = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errShort marks a buffer that ends before the frame does (including an
// empty one: the clean end of the log).
var errShort = fmt.Errorf("%w: short frame", ErrCorrupt)

// AppendFrame appends one frame to dst. enc appends the payload to the
// slice it is given and returns it; AppendFrame then fills in the header.
// The payload must be 1..MaxPayload bytes long, or recovery will reject
// the frame.
func AppendFrame(dst []byte, enc func(dst []byte) []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst = enc(dst)
	payload := dst[start+HeaderSize:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

// ReadFrame checks the frame at the start of b and returns its payload (a
// subslice of b, not a copy) and the frame's total length. Errors wrap
// ErrCorrupt. ReadFrame never panics, whatever b holds.
func ReadFrame(b []byte) (payload []byte, n int, err error) {
	if len(b) < HeaderSize {
		return nil, 0, errShort
	}
	size := binary.BigEndian.Uint32(b)
	if size == 0 || size > MaxPayload {
		return nil, 0, fmt.Errorf("%w: payload length %d", ErrCorrupt, size)
	}
	if uint64(len(b)-HeaderSize) < uint64(size) {
		return nil, 0, errShort
	}
	payload = b[HeaderSize : HeaderSize+int(size)]
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return nil, 0, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	return payload, HeaderSize + int(size), nil
}

// Scan calls fn with the payload of each frame of data, in order, and
// returns the position after the last frame fn accepted and how many it
// accepted. A damaged frame (short, oversized, checksum-failing) costs
// only itself: Scan resynchronizes on the next position where a whole
// frame reads (a torn write at the end leaves none, and ends the scan).
// A whole frame fn returns an error for is skipped. fn must not retain
// payload beyond the call unless it owns data.
func Scan(data []byte, fn func(payload []byte) error) (valid, frames int) {
	st := ScanStats(data, fn)
	return st.End, st.Frames
}

// Stats describes a scan.
type Stats struct {
	End     int // position after the last accepted frame
	Frames  int // frames accepted
	Skipped int // bytes before End that were damaged or rejected
	Damaged int // damaged stretches resynchronized over
}

// ScanStats is Scan with the damage it skipped.
func ScanStats(data []byte, fn func(payload []byte) error) Stats {
	var st Stats
	// Damage after the last accepted frame is the tail, not skipped.
	pendingBytes, pendingDamaged := 0, 0
	for pos := 0; pos < len(data); {
		payload, n, err := ReadFrame(data[pos:])
		if err != nil {
			next := resync(data, pos+1)
			if next < 0 {
				break // a torn tail: no whole frame after it
			}
			pendingBytes += next - pos
			pendingDamaged++
			pos = next
			continue
		}
		pos += n
		if fn(payload) != nil {
			pendingBytes += n
			continue
		}
		st.Frames++
		st.End = pos
		st.Skipped += pendingBytes
		st.Damaged += pendingDamaged
		pendingBytes, pendingDamaged = 0, 0
	}
	return st
}

// resync returns the first position at or after from where a whole frame
// reads, or -1. A random position passes the length and checksum checks
// with a chance of about 2^-32.
func resync(data []byte, from int) int {
	for p := from; p+HeaderSize <= len(data); p++ {
		if _, _, err := ReadFrame(data[p:]); err == nil {
			return p
		}
	}
	return -1
}
