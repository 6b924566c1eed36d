package group

import (
	"reflect"
	"testing"
)

func sampleRecords() []record {
	md := "meta"
	return []record{
		{kind: kindCommit, group: "g", protocolType: "consumer", entries: []offsetEntry{
			{topic: "t", partition: 0, committed: committed{offset: 5, leaderEpoch: 2, metadata: &md}},
			{topic: "u", partition: 7, committed: committed{offset: -1, leaderEpoch: -1}},
		}},
		{kind: kindDeleteTopic, topic: "u"},
		{kind: kindCommit, group: "h", entries: []offsetEntry{{topic: "t", partition: 1 << 20, committed: committed{offset: 1 << 40}}}},
		{kind: kindDeleteGroup, group: "h"},
	}
}

func encodeAll(recs []record) (data []byte, ends []int) {
	for i := range recs {
		data = appendFrame(data, &recs[i])
		ends = append(ends, len(data))
	}
	return data, ends
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	recs := sampleRecords()
	data, _ := encodeAll(recs)
	got, valid := decodeLog(data)
	if valid != len(data) || !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip: valid %d/%d\n got %+v\nwant %+v", valid, len(data), got, recs)
	}
}

// TestTornTailEveryCut cuts the log at every byte and checks that exactly
// the frames wholly before the cut are recovered.
func TestTornTailEveryCut(t *testing.T) {
	t.Parallel()
	recs := sampleRecords()
	data, ends := encodeAll(recs)
	for cut := 0; cut <= len(data); cut++ {
		whole := 0
		for _, e := range ends {
			if e <= cut {
				whole++
			}
		}
		got, valid := decodeLog(data[:cut])
		if len(got) != whole || (whole > 0 && valid != ends[whole-1]) || (whole == 0 && valid != 0) {
			t.Fatalf("cut %d: %d records valid %d, want %d", cut, len(got), valid, whole)
		}
	}
}

// TestCorruptFrameCostsOnlyItself flips one bit in each frame in turn:
// that frame is dropped and every other one survives (a damaged last
// frame is a torn tail, so the valid end is the frame before it).
func TestCorruptFrameCostsOnlyItself(t *testing.T) {
	t.Parallel()
	recs := sampleRecords()
	data, ends := encodeAll(recs)
	tests := []struct {
		name  string
		frame int
		at    func(start, end int) int // byte to flip
	}{
		{"length of first frame", 0, func(s, _ int) int { return s + 2 }},
		{"checksum of second frame", 1, func(s, _ int) int { return s + 5 }},
		{"payload of third frame", 2, func(_, e int) int { return e - 1 }},
		{"kind of last frame", 3, func(s, _ int) int { return s + frameHeader }},
	}
	for _, tt := range tests {
		start := 0
		if tt.frame > 0 {
			start = ends[tt.frame-1]
		}
		bad := append([]byte(nil), data...)
		bad[tt.at(start, ends[tt.frame])] ^= 0x10
		got, valid := decodeLog(bad)
		wantValid := ends[len(ends)-1]
		if tt.frame == len(ends)-1 {
			wantValid = start
		}
		if len(got) != len(recs)-1 || valid != wantValid {
			t.Fatalf("%s: %d records valid %d, want %d records valid %d", tt.name, len(got), valid, len(recs)-1, wantValid)
		}
	}
}

// FuzzDecodeLog checks decodeLog's invariants on arbitrary input: it never
// panics; the valid prefix is within the input; re-decoding the valid
// prefix yields the same records; and appending a good frame after a valid
// prefix makes exactly that frame recoverable.
func FuzzDecodeLog(f *testing.F) {
	data, ends := encodeAll(sampleRecords())
	f.Add(data)
	f.Add(data[:ends[0]+3])
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		recs, valid := decodeLog(in)
		if valid < 0 || valid > len(in) {
			t.Fatalf("valid %d outside [0,%d]", valid, len(in))
		}
		again, valid2 := decodeLog(in[:valid])
		if valid2 != valid || len(again) != len(recs) {
			t.Fatalf("prefix re-decode: %d/%d records, valid %d/%d", len(again), len(recs), valid2, valid)
		}
		extra := record{kind: kindDeleteGroup, group: "x"}
		more, valid3 := decodeLog(appendFrame(append([]byte(nil), in[:valid]...), &extra))
		if len(more) != len(recs)+1 || !reflect.DeepEqual(more[len(more)-1], extra) || valid3 <= valid {
			t.Fatalf("appending after the valid prefix: %d records, want %d", len(more), len(recs)+1)
		}
	})
}
