package storage

import (
	"bytes"
	"testing"
)

// TestReadResultOutlivesSealAndDelete: a held ReadResult's Data keeps its
// bytes, mapped, while the segment it came from is sealed by a roll
// (trimmed and remapped read-only) or deleted (renamed, unmapped and
// removed only at the last Release). The broker writes Data to sockets
// after the read returns (zero-copy fetch), so this is what keeps a
// response intact when the log changes under it.
func TestReadResultOutlivesSealAndDelete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		after func(t *testing.T, l *Log)
	}{
		{"unchanged", func(*testing.T, *Log) {}},
		{"sealed by a roll", func(t *testing.T, l *Log) {
			segs := len(segmentFiles(t, l.dir))
			for i := 0; len(segmentFiles(t, l.dir)) == segs; i++ {
				mustAppend(t, l, makeBatch(plain(4, byte(i))))
			}
		}},
		{"log deleted", func(t *testing.T, l *Log) {
			if err := l.Delete(); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, _ := newLog(t, smallConfig())
			for i := range 3 {
				mustAppend(t, l, makeBatch(plain(2, byte('a'+i))))
			}
			r, err := l.Read(2, 1<<20) // from the second batch (offsets 2-3), in the active segment
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			defer r.Release()
			want := bytes.Clone(r.Data)
			tt.after(t, l)
			if !bytes.Equal(r.Data, want) {
				t.Fatal("a held read's Data changed")
			}
		})
	}
}
