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

// Scan calls fn with the payload of each frame from the start of data, in
// order, and returns the length of the longest valid prefix and the
// number of frames in it. The prefix ends at the first frame ReadFrame
// rejects or fn returns an error for: that frame is the torn tail of a
// write interrupted by a crash, and everything from it on is dropped. fn
// must not retain payload beyond the call unless it owns data.
func Scan(data []byte, fn func(payload []byte) error) (valid, frames int) {
	for valid < len(data) {
		payload, n, err := ReadFrame(data[valid:])
		if err != nil {
			return valid, frames
		}
		if err := fn(payload); err != nil {
			return valid, frames
		}
		valid += n
		frames++
	}
	return valid, frames
}
