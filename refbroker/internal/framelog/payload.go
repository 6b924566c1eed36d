package framelog

import (
	"encoding/binary"
	"fmt"
)

// Helpers for payloads made of varints and length-prefixed strings, the
// encoding both refbroker logs use. The record layouts themselves belong to
// the owners of each log.

// AppendString appends s as a uvarint length followed by its bytes.
func AppendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// Decoder reads the fields of one payload in order. It remembers the first
// failure, after which every read returns a zero value, so decoding code
// stays linear and checks Err or Finish once. A Decoder never panics on
// malformed input. The zero value decodes an empty payload; use
// NewDecoder.
type Decoder struct {
	b   []byte
	err error
}

// NewDecoder returns a Decoder reading payload. Bytes returns subslices
// of payload; String copies.
func NewDecoder(payload []byte) *Decoder { return &Decoder{b: payload} }

// Fail records that the field named what is missing or invalid (unless
// an earlier failure is already recorded) and stops decoding.
func (d *Decoder) Fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or invalid %s", ErrCorrupt, what)
	}
	d.b = nil
}

// Err returns the first failure, wrapping ErrCorrupt, or nil.
func (d *Decoder) Err() error { return d.err }

// Len returns the number of unread bytes.
func (d *Decoder) Len() int { return len(d.b) }

// Finish fails if unread bytes remain and returns Err: a payload must be
// consumed exactly.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.Fail("trailing bytes")
	}
	return d.err
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads a signed (zig-zag) varint.
func (d *Decoder) Varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.Fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Int32 reads a signed varint that must fit in an int32.
func (d *Decoder) Int32(what string) int32 {
	v := d.Varint(what)
	if v < -1<<31 || v > 1<<31-1 {
		d.Fail(what)
		return 0
	}
	return int32(v)
}

// Bytes reads the next n bytes, returning a subslice of the payload (nil
// after a failure).
func (d *Decoder) Bytes(n uint64, what string) []byte {
	if n > uint64(len(d.b)) {
		d.Fail(what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// String reads a string written by AppendString, copying it out of the
// payload.
func (d *Decoder) String(what string) string {
	return string(d.Bytes(d.Uvarint(what), what))
}
