package adapters

import (
	"context"
	"sync"
)

// Inflight counts a producer's sends whose done callback has not returned
// yet, so that Flush can wait for them. It is not safe for concurrent use:
// a producer calls Add, Done and Idle under the lock that also guards its
// closed state, so no send is counted after Close has begun to wait. The
// zero value has nothing in flight.
type Inflight struct {
	n    int
	idle chan struct{} // closed when n drops to 0; replaced when it leaves 0
}

// closedIdle is what Idle returns when nothing is in flight; it is never
// written after init.
var closedIdle = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Add counts one more send in flight.
func (f *Inflight) Add() {
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
}

// Done counts one send complete; its done callback has returned.
func (f *Inflight) Done() {
	f.n--
	if f.n == 0 {
		close(f.idle)
	}
}

// Idle returns a channel that is closed once every send counted so far is
// done (already closed when none is in flight).
func (f *Inflight) Idle() <-chan struct{} {
	if f.n == 0 {
		return closedIdle
	}
	return f.idle
}

// Wait waits, until ctx ends, for every send counted so far to be done.
// mu is the producer's lock that guards f; Wait holds it only to read the
// idle channel. It returns ctx.Err() when ctx ends first.
func (f *Inflight) Wait(ctx context.Context, mu sync.Locker) error {
	mu.Lock()
	idle := f.Idle()
	mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
