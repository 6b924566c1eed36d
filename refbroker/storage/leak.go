package storage

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// leak is what the cleanup of a tracked ReadResult needs; it must not
// reference the result itself, or the result would never become
// unreachable.
type leak struct {
	released *atomic.Bool
	stack    []byte
	report   func(stack []byte)
}

// trackLeak arranges for report to be called with the stack of the Read
// that returned r if r becomes unreachable before Release (Config.OnLeak).
func trackLeak(r *ReadResult, report func(stack []byte)) {
	r.tracked = new(atomic.Bool)
	runtime.AddCleanup(r, func(l leak) {
		if !l.released.Load() {
			l.report(l.stack)
		}
	}, leak{released: r.tracked, stack: debug.Stack(), report: report})
}
