package storage

import (
	"math"
	"sort"
)

// indexEntry is one sparse index entry: the batch starting at file position
// pos has base offset segment.base+relOffset, and maxTsBefore is the largest
// batch maxTimestamp of all batches in the segment before it (MinInt64 for
// none). maxTsBefore is non-decreasing along the index, which lets a
// timestamp lookup binary-search it although batch timestamps themselves
// are not ordered.
type indexEntry struct {
	relOffset   uint32
	pos         uint32
	maxTsBefore int64
}

// sparseIndex maps offsets (and timestamps) to file positions in one
// segment. It is rebuilt from batch headers at open and appended to by
// Append; guarded by Log.mu.
type sparseIndex struct {
	entries  []indexEntry
	interval int64 // bytes between entries
}

// add records the batch at pos when it is the first batch or at least
// interval bytes follow the previous entry.
func (x *sparseIndex) add(relOffset uint32, pos int64, maxTsBefore int64) {
	if n := len(x.entries); n > 0 && pos-int64(x.entries[n-1].pos) < x.interval {
		return
	}
	x.entries = append(x.entries, indexEntry{relOffset: relOffset, pos: uint32(pos), maxTsBefore: maxTsBefore})
}

// floorOffset returns the position of the last indexed batch whose base
// offset is <= base+rel; scanning headers forward from it finds the batch
// containing the offset. Returns 0 for an empty index.
func (x *sparseIndex) floorOffset(rel uint32) int64 {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].relOffset > rel })
	if i == 0 {
		return 0
	}
	return int64(x.entries[i-1].pos)
}

// floorTime returns the position and maxTsBefore of the last entry whose
// maxTsBefore < ts: no batch before that position has maxTimestamp >= ts.
func (x *sparseIndex) floorTime(ts int64) (pos int64, maxTsBefore int64) {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].maxTsBefore >= ts })
	if i == 0 {
		return 0, math.MinInt64
	}
	e := x.entries[i-1]
	return int64(e.pos), e.maxTsBefore
}
