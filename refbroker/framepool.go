package refbroker

import (
	"math/bits"
	"runtime"
	"sync"
	"time"
)

// framePool recycles request buffers larger than maxKeptBuffer between
// requests and connections. A connection's frame slots keep buffers up to
// maxKeptBuffer themselves; a bigger one used to be dropped after each
// request, so that a producer sending requests above it (16 partitions of
// kgo's 1 MB batches is 16 MB) regrew every request from 64 KiB by
// doubling: zeroing and copying about twice the request's bytes, which
// was 40 % of the broker's CPU on produce at 16 partitions.
//
// A get only hands out a buffer that already exists: it never allocates,
// so readBody's rule that memory follows the bytes that arrive still
// holds. The pool holds at most maxPooledBytes, and a buffer unused for
// poolIdle is dropped at the next garbage collection after that (the
// runtime forces one at least every two minutes), so an idle broker pins
// nothing for long.
//
// Two simpler designs were measured and rejected: a sync.Pool (a buffer
// put back by the handler sits in its P's private slot, invisible to the
// reader goroutine asking on another P: 4.2 MB allocated per 16 MB
// request) and weak pointers (every collection took the free buffers,
// and the regrowth that followed caused the next collection).
//
// A nil *framePool is valid and keeps nothing. Safe for concurrent use.
type framePool struct {
	mu    sync.Mutex
	free  [64][]pooledFrame // free[k]: buffers with 2^k <= cap < 2^(k+1), oldest first
	bytes int64             // capacity held in free
	armed bool              // a sweep is registered for the next collection
}

// pooledFrame is a free buffer and when it was put back.
type pooledFrame struct {
	buf []byte
	at  time.Time
}

const (
	// maxPooledBytes bounds the memory the pool holds: five 16 MB
	// requests in flight for each of three producers. Buffers put back
	// beyond it are left to the garbage collector.
	maxPooledBytes = 256 << 20
	// poolIdle is how long a free buffer is kept unused.
	poolIdle = time.Minute
	// maxPoolStretch bounds, as a power of two, how much bigger than a
	// request the buffer it takes from the pool may be: 16x, so that
	// requests of maxKeptBuffer/16 or less never take a pooled buffer
	// (a small JoinGroup frame, which the coordinator keeps, cannot pin
	// a 16 MiB one), while a 1 MiB produce request can take one.
	maxPoolStretch = 4
)

// get returns an empty buffer of capacity at least n, and at most
// 2^maxPoolStretch times n, from the pool, or nil when it has none.
//
// A request at or below maxKeptBuffer takes one too: its frame slot gave
// its buffer to the pool when a bigger request passed through it, and a
// producer whose requests straddle maxKeptBuffer (kgo at 16 partitions
// sends requests of 1 to 15 MB, as its batches fill) otherwise regrew
// that slot from 64 KiB at the next smaller request: 38 regrowths in one
// 1 GB run, 470 MB of fresh buffers, 22 % of the broker's produce CPU in
// the copies and page faults.
func (p *framePool) get(n int) []byte {
	if p == nil || n <= 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Every buffer of class ceil(log2(n)) holds n bytes; bigger classes
	// are taken too rather than allocating, the smallest first.
	first := bits.Len(uint(n - 1))
	for k := first; k < len(p.free) && 1<<k <= n<<maxPoolStretch; k++ {
		if list := p.free[k]; len(list) > 0 {
			f := list[len(list)-1]
			if cap(f.buf) > n<<maxPoolStretch {
				break
			}
			list[len(list)-1] = pooledFrame{}
			p.free[k] = list[:len(list)-1]
			p.bytes -= int64(cap(f.buf))
			return f.buf
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
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+int64(cap(buf)) > maxPooledBytes {
		return
	}
	k := bits.Len(uint(cap(buf))) - 1
	p.free[k] = append(p.free[k], pooledFrame{buf: buf[:0], at: time.Now()})
	p.bytes += int64(cap(buf))
	if !p.armed {
		p.armed = true
		p.armSweep()
	}
}

// armSweep makes the next garbage collection run sweep: the cleanup of
// an object nothing refers to runs once a collection has freed it.
func (p *framePool) armSweep() {
	sentinel := new([32]byte) // not a tiny allocation, which may be freed late
	runtime.AddCleanup(sentinel, func(p *framePool) { p.sweep(time.Now()) }, p)
}

// sweep drops the buffers unused since before now-poolIdle and arms the
// next sweep while buffers remain.
func (p *framePool) sweep(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, list := range p.free {
		stale := 0
		for stale < len(list) && now.Sub(list[stale].at) >= poolIdle {
			p.bytes -= int64(cap(list[stale].buf))
			stale++
		}
		if stale > 0 {
			n := copy(list, list[stale:])
			clear(list[n:])
			p.free[k] = list[:n]
		}
	}
	p.armed = p.bytes > 0
	if p.armed {
		p.armSweep()
	}
}

// drop frees every pooled buffer (the broker is closing).
func (p *framePool) drop() { p.sweep(time.Now().Add(poolIdle)) }
