package storage

import (
	"errors"
	"slices"
	"testing"
)

func TestSplitBatches(t *testing.T) {
	t.Parallel()
	a, b := makeBatch(plain(1, 'a')), makeBatch(plain(3, 'b'))
	two := slices.Concat(a, b)
	tests := []struct {
		name    string
		in      []byte
		want    int // batches; 0 = expect ErrCorruptBatch
		comment string
	}{
		{"one batch", a, 1, "the common case: one batch per partition"},
		{"two batches", two, 2, "Kafka accepts several batches per partition"},
		{"truncated second batch", two[:len(two)-1], 0, "lengths must tile the records exactly"},
		{"trailing bytes", append(slices.Clone(a), 0, 0, 0), 0, "fewer bytes than a length prefix"},
		{"empty", nil, 0, "a partition with no batch"},
		{"absurd length", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}, 0, "claims 2 GiB"},
	}
	for _, tt := range tests {
		got, err := SplitBatches(tt.in)
		switch {
		case tt.want == 0 && !errors.Is(err, ErrCorruptBatch):
			t.Errorf("%s (%s): err = %v, want ErrCorruptBatch", tt.name, tt.comment, err)
		case tt.want > 0 && (err != nil || len(got) != tt.want):
			t.Errorf("%s (%s): %d batches, err %v; want %d", tt.name, tt.comment, len(got), err, tt.want)
		}
	}
	got, _ := SplitBatches(two)
	if !slices.Equal(got[0], a) || !slices.Equal(got[1], b) {
		t.Error("split batches differ from the originals")
	}
}
