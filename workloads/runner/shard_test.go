package runner

import (
	"slices"
	"testing"

	"github.com/brokerbench/brokerbench/results"
)

func TestBitsetRanges(t *testing.T) {
	tests := []struct {
		set  []uint64
		want results.SeqRanges
	}{
		{nil, nil},
		{[]uint64{0}, results.SeqRanges{{0, 0}}},
		{[]uint64{0, 1, 2, 5, 63, 64, 65, 200}, results.SeqRanges{{0, 2}, {5, 5}, {63, 65}, {200, 200}}},
	}
	for _, tt := range tests {
		var b bitset
		for _, n := range tt.set {
			b.set(n)
		}
		if got := b.ranges(); !slices.Equal(got, tt.want) {
			t.Errorf("ranges of %v = %v, want %v", tt.set, got, tt.want)
		}
	}
}
