package share

import "errors"

var (
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("share coordinator closed")
	// ErrStoreBroken means the state log could not be written or rolled
	// back; no further state change is accepted until a restart.
	ErrStoreBroken = errors.New("share state log broken")
	// ErrInvalidConfig wraps a Config or group-config validation failure.
	ErrInvalidConfig = errors.New("invalid share config")
)
