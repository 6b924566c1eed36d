package kafka

import "errors"

// ErrCrashed is returned by the dialer of a consumer after Crash, so that
// the client can reach no broker again, just as a killed process could not.
// The other errors of this package wrap the shared sentinels of package
// adapters (ErrInvalidConfig, ErrClosed, ErrTopicMismatch, ...).
var ErrCrashed = errors.New("kafka consumer crashed")
