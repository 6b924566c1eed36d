package kafka

import "errors"

// ErrInvalidConfig is wrapped by every error from Config.Validate and by
// errors for invalid producer or consumer settings; the wrapping error names
// the setting and how to fix it.
var ErrInvalidConfig = errors.New("invalid kafka configuration")

// ErrClosed is reported for operations on a closed producer, consumer or
// system, including through Send's done callback.
var ErrClosed = errors.New("kafka adapter closed")

// ErrCrashed is returned by the dialer of a consumer after Crash, so that
// the client can reach no broker again, just as a killed process could not.
var ErrCrashed = errors.New("kafka consumer crashed")

// ErrTopicMismatch is wrapped when CreateTopic finds the topic already
// exists with a different partition count.
var ErrTopicMismatch = errors.New("topic exists with a different partition count")
