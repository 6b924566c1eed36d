package refbroker

import (
	"math/bits"
	"sync"
	"weak"
)

// framePool recycles request buffers larger than maxKeptBuffer between
// requests and connections. A connection's frame slots keep buffers up to
// maxKeptBuffer themselves; a bigger one used to be dropped after each
// request, so that a producer sending requests above it (16 partitions of
// kgo's 1 MB batches is 16 MB) regrew every request from 64 KiB by
// doubling: zeroing and copying about twice the request's bytes, which
// was 40 % of the broker's CPU on produce at 16 partitions.
//
// Free buffers are held by weak pointers, per power-of-two capacity
// class: memory nobody uses goes back at the next garbage collection (the
// runtime forces one at least every two minutes), so an idle broker pins
// nothing. A get only hands out a buffer that already exists: it never
// allocates, so readBody's rule that memory follows the bytes that arrive
// still holds. (A sync.Pool does not fit: a buffer put on one P sits in
// that P's private slot, invisible to the reader goroutine that asks on
// another, so most requests allocated anyway.)
//
// A nil *framePool is valid and keeps nothing. Safe for concurrent use.
type framePool struct {
	mu   sync.Mutex
	free [64][]weak.Pointer[[]byte] // free[k]: buffers with 2^k <= cap < 2^(k+1)
}

// maxFreePerClass bounds each class's list, live and collected entries
// together; a connection has at most pipelineDepth frames.
const maxFreePerClass = 64

// get returns an empty buffer of capacity at least n from the pool, or
// nil when it has none (or n is small enough for a slot's own buffer).
func (p *framePool) get(n int) []byte {
	if p == nil || n <= maxKeptBuffer {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Every buffer of class ceil(log2(n)) holds n bytes; the next class
	// up is taken too rather than allocating.
	first := bits.Len(uint(n - 1))
	for k := first; k <= first+1 && k < len(p.free); k++ {
		for list := p.free[k]; len(list) > 0; {
			w := list[len(list)-1]
			list = list[:len(list)-1]
			p.free[k] = list
			if b := w.Value(); b != nil {
				return (*b)[:0]
			}
		}
	}
	return nil
}

// put offers buf for reuse once nothing else refers to it. Buffers up to
// maxKeptBuffer are not kept (frame slots keep those).
func (p *framePool) put(buf []byte) {
	if p == nil || cap(buf) <= maxKeptBuffer {
		return
	}
	k := bits.Len(uint(cap(buf))) - 1
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.free[k]
	if len(list) >= maxFreePerClass {
		// Drop what the collector took, then the oldest.
		live := list[:0]
		for _, w := range list {
			if w.Value() != nil {
				live = append(live, w)
			}
		}
		clear(list[len(live):])
		if list = live; len(list) >= maxFreePerClass {
			list = append(list[:0], list[1:]...)
		}
	}
	p.free[k] = append(list, weak.Make(&buf))
}
