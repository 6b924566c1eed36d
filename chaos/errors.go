package chaos

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these (with
// the context of what was being done), so callers classify with errors.Is.
var (
	// ErrInvalidSpec: a Spec or FaultSpec fails validation or decoding.
	ErrInvalidSpec = errors.New("invalid chaos spec")
	// ErrClosed: the Network or Process was closed.
	ErrClosed = errors.New("chaos: closed")
	// ErrNoInjector: a fault names a kind or target that the injector has
	// nothing to apply it to (for example a kill with no Process named by
	// its target).
	ErrNoInjector = errors.New("chaos: no injector for fault")
	// ErrNotRunning: a process operation needs a running process.
	ErrNotRunning = errors.New("chaos: process not running")
	// ErrAlreadyRunning: Start on a process that is already running.
	ErrAlreadyRunning = errors.New("chaos: process already running")
	// ErrNotReady: a started process did not accept connections in time, or
	// exited before it did.
	ErrNotReady = errors.New("chaos: process not ready")
	// ErrProxyDown: a dial through a proxy that a "down" fault has stopped.
	ErrProxyDown = errors.New("chaos: proxy down")
)
