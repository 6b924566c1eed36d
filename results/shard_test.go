package results

import "testing"

func TestSeqRanges(t *testing.T) {
	tests := []struct {
		a, b        SeqRanges
		union       SeqRanges
		missingAOfB int64 // members of b not in a
	}{
		{nil, nil, nil, 0},
		{SeqRanges{{0, 4}}, SeqRanges{{5, 9}}, SeqRanges{{0, 9}}, 5},
		{SeqRanges{{0, 4}}, SeqRanges{{3, 9}}, SeqRanges{{0, 9}}, 5},
		{SeqRanges{{0, 2}, {6, 8}}, SeqRanges{{0, 9}}, SeqRanges{{0, 9}}, 4},
		{SeqRanges{{0, 9}}, SeqRanges{{2, 3}, {7, 7}}, SeqRanges{{0, 9}}, 0},
		{SeqRanges{{10, 12}}, SeqRanges{{0, 1}}, SeqRanges{{0, 1}, {10, 12}}, 2},
	}
	for _, tt := range tests {
		u := Union(tt.a, tt.b)
		if len(u) != len(tt.union) {
			t.Errorf("Union(%v, %v) = %v, want %v", tt.a, tt.b, u, tt.union)
			continue
		}
		for i := range u {
			if u[i] != tt.union[i] {
				t.Errorf("Union(%v, %v) = %v, want %v", tt.a, tt.b, u, tt.union)
			}
		}
		if got := tt.a.Missing(tt.b); got != tt.missingAOfB {
			t.Errorf("%v.Missing(%v) = %d, want %d", tt.a, tt.b, got, tt.missingAOfB)
		}
		if got, want := u.Len(), tt.a.Len()+tt.b.Len()-(tt.b.Len()-tt.a.Missing(tt.b)); got != want {
			t.Errorf("|%v| = %d, want %d", u, got, want)
		}
	}
}
