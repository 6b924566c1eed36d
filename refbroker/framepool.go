package refbroker

import (
	"math/bits"
	"sync"
)

// framePool recycles request buffers larger than maxKeptBuffer between
// requests and connections. A connection's frame slots keep buffers up to
// maxKeptBuffer themselves; a bigger one used to be dropped after each
// request, so that a producer sending requests above it (16 partitions of
// kgo's 1 MB batches is 16 MB) regrew every request from 64 KiB by
// doubling: zeroing and copying about twice the request's bytes, which
// was 40 % of the broker's CPU on produce at 16 partitions.
//
// Buffers are kept in one sync.Pool per power-of-two capacity class, so
// memory nobody asks for again goes back to the garbage collector (a
// sync.Pool is emptied over two collections; the runtime forces one at
// least every two minutes), and an idle connection pins nothing. A get
// only hands out a buffer that already exists: it never allocates, so
// readBody's rule that memory follows the bytes that arrive still holds.
//
// A nil *framePool is valid and keeps nothing.
type framePool struct {
	classes [64]sync.Pool // classes[k] holds *[]byte with 2^k <= cap < 2^(k+1)
}

// get returns an empty buffer of capacity at least n from the pool, or
// nil when it has none (or n is small enough for a slot's own buffer).
func (p *framePool) get(n int) []byte {
	if p == nil || n <= maxKeptBuffer {
		return nil
	}
	// Every buffer of class ceil(log2(n)) holds n bytes.
	for k := bits.Len(uint(n - 1)); k < len(p.classes) && k <= bits.Len(uint(n-1))+1; k++ {
		if v, ok := p.classes[k].Get().(*[]byte); ok {
			return (*v)[:0]
		}
	}
	return nil
}

// put offers buf for reuse once nothing refers to it any more. Buffers up
// to maxKeptBuffer are not kept (frame slots keep those).
func (p *framePool) put(buf []byte) {
	if p == nil || cap(buf) <= maxKeptBuffer {
		return
	}
	k := bits.Len(uint(cap(buf))) - 1
	p.classes[k].Put(&buf)
}
