package framelog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"testing"
)

// samplePayloads are the payloads of the frames most tests encode.
func samplePayloads() [][]byte {
	return [][]byte{
		[]byte("a"),
		bytes.Repeat([]byte{0xab}, 300),
		{1, 2, 3, 4, 5, 6, 7, 8, 9},
		[]byte("last frame"),
	}
}

// encodeAll frames payloads back to back and returns where each frame ends.
func encodeAll(payloads [][]byte) (data []byte, ends []int) {
	for _, p := range payloads {
		data = AppendFrame(data, func(dst []byte) []byte { return append(dst, p...) })
		ends = append(ends, len(data))
	}
	return data, ends
}

// collect scans data and returns copies of the payloads of its valid prefix.
func collect(data []byte) (payloads [][]byte, valid int) {
	valid, n := Scan(data, func(p []byte) error {
		payloads = append(payloads, slices.Clone(p))
		return nil
	})
	if n != len(payloads) {
		panic("Scan frame count disagrees with its callbacks")
	}
	return payloads, valid
}

// TestFrameFormat pins the on-disk format byte for byte: files written
// before this package existed must keep loading.
func TestFrameFormat(t *testing.T) {
	t.Parallel()
	payload := []byte{3, 1, 'x'}
	want := make([]byte, 8, 11)
	binary.BigEndian.PutUint32(want, 3)
	binary.BigEndian.PutUint32(want[4:], crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
	want = append(want, payload...)
	got := AppendFrame([]byte("prefix"), func(dst []byte) []byte { return append(dst, payload...) })
	if !bytes.Equal(got[len("prefix"):], want) || string(got[:6]) != "prefix" {
		t.Fatalf("frame bytes %x, want prefix + %x", got, want)
	}
	// CRC-32C("a") is the published check value 0xc1d04330.
	if a := AppendFrame(nil, func(dst []byte) []byte { return append(dst, 'a') }); !bytes.Equal(a, []byte{0, 0, 0, 1, 0xc1, 0xd0, 0x43, 0x30, 'a'}) {
		t.Fatalf("frame of \"a\" is %x", a)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	in := samplePayloads()
	data, _ := encodeAll(in)
	got, valid := collect(data)
	if valid != len(data) || len(got) != len(in) {
		t.Fatalf("decoded %d frames from %d/%d bytes", len(got), valid, len(data))
	}
	for i := range in {
		if !bytes.Equal(got[i], in[i]) {
			t.Errorf("payload %d: got %x, want %x", i, got[i], in[i])
		}
	}
}

// TestTornTailEveryCut cuts the log at every byte and checks that exactly
// the frames wholly before the cut are recovered.
func TestTornTailEveryCut(t *testing.T) {
	t.Parallel()
	data, ends := encodeAll(samplePayloads())
	for cut := 0; cut <= len(data); cut++ {
		whole, wantValid := 0, 0
		for _, e := range ends {
			if e <= cut {
				whole, wantValid = whole+1, e
			}
		}
		got, valid := collect(data[:cut])
		if len(got) != whole || valid != wantValid {
			t.Fatalf("cut %d: %d frames valid %d, want %d valid %d", cut, len(got), valid, whole, wantValid)
		}
	}
}

// TestCorruptFrameCostsOnlyItself damages one frame in turn: that frame
// is dropped and every other frame survives (a damaged last frame is a
// torn tail, so the valid end is the frame before it).
func TestCorruptFrameCostsOnlyItself(t *testing.T) {
	t.Parallel()
	data, ends := encodeAll(samplePayloads())
	tests := []struct {
		name  string
		frame int
		edit  func(b []byte, start, end int)
	}{
		{"bit flip in length of first frame", 0, func(b []byte, s, _ int) { b[s+2] ^= 0x10 }},
		{"bit flip in checksum of second frame", 1, func(b []byte, s, _ int) { b[s+5] ^= 0x10 }},
		{"bit flip at end of third payload", 2, func(b []byte, _, e int) { b[e-1] ^= 0x10 }},
		{"bit flip at start of last payload", 3, func(b []byte, s, _ int) { b[s+HeaderSize] ^= 0x01 }},
		{"zero length", 1, func(b []byte, s, _ int) { binary.BigEndian.PutUint32(b[s:], 0) }},
		{"length above MaxPayload", 2, func(b []byte, s, _ int) { binary.BigEndian.PutUint32(b[s:], MaxPayload+1) }},
		{"length past the end", 3, func(b []byte, s, _ int) { binary.BigEndian.PutUint32(b[s:], 1<<20) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := 0
			if tt.frame > 0 {
				start = ends[tt.frame-1]
			}
			bad := slices.Clone(data)
			tt.edit(bad, start, ends[tt.frame])
			got, valid := collect(bad)
			want := slices.Delete(slices.Clone(samplePayloads()), tt.frame, tt.frame+1)
			wantValid := ends[len(ends)-1]
			if tt.frame == len(ends)-1 {
				wantValid = start
			}
			if len(got) != len(want) || valid != wantValid {
				t.Fatalf("%d frames valid %d, want %d frames valid %d", len(got), valid, len(want), wantValid)
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("frame %d differs", i)
				}
			}
			if _, _, err := ReadFrame(bad[start:]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadFrame error %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestScanSkipsWhatReplayRejects checks that a frame the caller cannot
// decode is skipped, and the frames after it are still replayed.
func TestScanSkipsWhatReplayRejects(t *testing.T) {
	t.Parallel()
	data, ends := encodeAll(samplePayloads())
	var seen int
	valid, n := Scan(data, func(p []byte) error {
		seen++
		if seen == 3 { // the third frame only
			return errors.New("undecodable")
		}
		return nil
	})
	if valid != ends[3] || n != 3 {
		t.Fatalf("valid %d frames %d, want %d and 3", valid, n, ends[3])
	}
}

// FuzzScan checks Scan's invariants on arbitrary input: it never panics;
// the valid prefix is within the input; re-scanning the valid prefix
// yields the same payloads; and appending a good frame after the valid
// prefix makes exactly that frame recoverable.
func FuzzScan(f *testing.F) {
	data, ends := encodeAll(samplePayloads())
	f.Add(data)
	f.Add(data[:ends[0]+3])
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, valid := collect(in)
		if valid < 0 || valid > len(in) {
			t.Fatalf("valid %d outside [0,%d]", valid, len(in))
		}
		again, valid2 := collect(in[:valid])
		if valid2 != valid || len(again) != len(got) {
			t.Fatalf("prefix re-scan: %d/%d frames, valid %d/%d", len(again), len(got), valid2, valid)
		}
		for i := range got {
			if !bytes.Equal(got[i], again[i]) {
				t.Fatalf("prefix re-scan: payload %d differs", i)
			}
		}
		extra := []byte("extra")
		more, valid3 := collect(AppendFrame(slices.Clone(in[:valid]), func(dst []byte) []byte { return append(dst, extra...) }))
		if len(more) != len(got)+1 || !bytes.Equal(more[len(more)-1], extra) || valid3 != valid+HeaderSize+len(extra) {
			t.Fatalf("appending after the valid prefix: %d frames, want %d", len(more), len(got)+1)
		}
	})
}

func TestDecoder(t *testing.T) {
	t.Parallel()
	var p []byte
	p = AppendString(p, "héllo")
	p = binary.AppendVarint(p, -5)
	p = binary.AppendVarint(p, 1<<31) // does not fit an int32
	tests := []struct {
		name    string
		payload []byte
		read    func(d *Decoder) any
		want    any
		wantErr bool
	}{
		{"string", p, func(d *Decoder) any { return d.String("s") }, "héllo", false},
		{"string then int32", p, func(d *Decoder) any { d.String("s"); return d.Int32("i") }, int32(-5), false},
		{"int32 out of range", p, func(d *Decoder) any { d.String("s"); d.Int32("i"); return d.Int32("big") }, int32(0), true},
		{"truncated string", p[:3], func(d *Decoder) any { return d.String("s") }, "", true},
		{"bad varint", []byte{0x80}, func(d *Decoder) any { return d.Varint("v") }, int64(0), true},
		{"bytes past end", []byte{1, 2}, func(d *Decoder) any { return len(d.Bytes(3, "b")) }, 0, true},
		{"uvarint", binary.AppendUvarint(nil, 300), func(d *Decoder) any { return d.Uvarint("u") }, uint64(300), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := NewDecoder(tt.payload)
			if got := tt.read(d); got != tt.want {
				t.Fatalf("read %v (%T), want %v (%T)", got, got, tt.want, tt.want)
			}
			if err := d.Err(); (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrCorrupt)) {
				t.Fatalf("Err() = %v, want error %v wrapping ErrCorrupt", err, tt.wantErr)
			}
		})
	}
	d := NewDecoder(p)
	d.String("s")
	if err := d.Finish(); !errors.Is(err, ErrCorrupt) || d.Len() != 0 {
		t.Fatalf("Finish with trailing bytes: %v, %d left", err, d.Len())
	}
}
