package runner

import (
	"math/bits"

	"github.com/brokerbench/brokerbench/results"
)

// bitset is a growable set of sequence numbers. Not safe for concurrent use.
type bitset struct {
	words []uint64
	count int64
}

// set adds n and reports whether it was already present.
func (s *bitset) set(n uint64) (already bool) {
	w := n / 64
	if w >= uint64(len(s.words)) {
		grow := max(int(w)+1, 2*len(s.words))
		words := make([]uint64, grow)
		copy(words, s.words)
		s.words = words
	}
	mask := uint64(1) << (n % 64)
	if s.words[w]&mask != 0 {
		return true
	}
	s.words[w] |= mask
	s.count++
	return false
}

// has reports whether n is present.
func (s *bitset) has(n uint64) bool {
	w := n / 64
	return w < uint64(len(s.words)) && s.words[w]&(1<<(n%64)) != 0
}

// missing counts members of want that are absent from s.
func (s *bitset) missing(want *bitset) int64 {
	var n int64
	for i, w := range want.words {
		var have uint64
		if i < len(s.words) {
			have = s.words[i]
		}
		n += int64(bits.OnesCount64(w &^ have))
	}
	return n
}

// ranges returns the members of s as sorted, disjoint, inclusive ranges.
func (s *bitset) ranges() results.SeqRanges {
	var out results.SeqRanges
	for i, w := range s.words {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			w &^= 1 << b
			n := uint64(i*64 + b)
			if k := len(out); k > 0 && out[k-1][1]+1 == n {
				out[k-1][1] = n
			} else {
				out = append(out, [2]uint64{n, n})
			}
		}
	}
	return out
}
