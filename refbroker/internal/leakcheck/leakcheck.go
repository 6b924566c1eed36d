// Package leakcheck fails a test when a storage read result
// (storage.ReadResult) is garbage-collected without Release: such a result
// pins a segment's mapping and file descriptor for the life of the broker,
// so a code path that forgets one leaks a little on every fetch.
//
// Use: cfg.OnLeak = leakcheck.New(t). At the end of the test it collects
// garbage and fails the test with the stack of every Read whose result
// was dropped unreleased.
package leakcheck

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// settle is how long the end-of-test check waits for cleanups to run
// after a collection; cleanups run on their own goroutine, so a leak
// reported later than this is missed (never invented).
const settle = 50 * time.Millisecond

// Recorder collects reported leaks.
type Recorder struct {
	mu     sync.Mutex
	stacks [][]byte
}

// Report records one leak; it is a storage.Config.OnLeak.
func (r *Recorder) Report(stack []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stacks = append(r.stacks, stack)
}

// Leaks collects garbage, waits for cleanups to run, and returns the
// stacks of the leaked reads so far.
func (r *Recorder) Leaks() [][]byte {
	for range 2 {
		runtime.GC()
		time.Sleep(settle) // cleanups run on their own goroutine after the collection
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.stacks...)
}

// New returns an OnLeak function that fails t, at its end, for every read
// result dropped unreleased during the test.
func New(t testing.TB) func(stack []byte) {
	t.Helper()
	r := &Recorder{}
	t.Cleanup(func() {
		for _, s := range r.Leaks() {
			t.Errorf("storage read result garbage-collected without Release; read at:\n%s", s)
		}
	})
	return r.Report
}
