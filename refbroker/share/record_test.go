package share

import (
	"maps"
	"slices"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	t.Parallel()
	in := []frame{
		{kind: kindPartition, group: "g", tp: tp{[16]byte{1, 2}, 7}, spso: 100, entries: []persistEntry{
			{off: 100, state: StateAvailable, count: 2}, {off: 105, state: StateAcknowledged, count: 1}, {off: 1 << 40, state: StateArchived, count: 5},
		}},
		{kind: kindConfig, group: "g2", configs: map[string]string{ConfigAutoOffsetReset: "earliest", ConfigDeliveryLimit: "3"}},
		{kind: kindPartition, group: "", tp: tp{partition: 0}, spso: 0},
	}
	var buf []byte
	for i := range in {
		buf = appendFrame(buf, &in[i])
	}
	out, valid := decodeLog(buf)
	if valid != len(buf) || len(out) != len(in) {
		t.Fatalf("decoded %d frames from %d/%d bytes", len(out), valid, len(buf))
	}
	for i := range in {
		a, b := in[i], out[i]
		if a.kind != b.kind || a.group != b.group || a.tp != b.tp || a.spso != b.spso ||
			!slices.Equal(a.entries, b.entries) || !maps.Equal(a.configs, b.configs) {
			t.Errorf("frame %d: got %+v, want %+v", i, b, a)
		}
	}
}

// FuzzDecodeLog checks the recovery decoder on arbitrary bytes: it never
// panics, the valid prefix is within the input, and decoding exactly that
// prefix yields the same frames (recovery is stable when rerun).
func FuzzDecodeLog(f *testing.F) {
	var seed []byte
	seed = appendFrame(seed, &frame{kind: kindPartition, group: "g", spso: 3, entries: []persistEntry{{off: 4, state: StateArchived, count: 2}}})
	seed = appendFrame(seed, &frame{kind: kindConfig, group: "g", configs: map[string]string{"k": "v"}})
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, valid := decodeLog(data)
		if valid < 0 || valid > len(data) {
			t.Fatalf("valid %d outside [0, %d]", valid, len(data))
		}
		again, valid2 := decodeLog(data[:valid])
		if valid2 != valid || len(again) != len(frames) {
			t.Fatalf("re-decoding the valid prefix: %d frames/%d bytes, first pass %d/%d", len(again), valid2, len(frames), valid)
		}
	})
}
