package redis

import "errors"

// ErrInvalidConfig is wrapped by errors from [Config.Validate] and
// [ConfigFromEnv]; the wrapping error names the setting and how to fix it.
var ErrInvalidConfig = errors.New("invalid redis config")

// ErrTopicNotFound is wrapped by errors about a topic that CreateTopic never
// created (its metadata hash is missing).
var ErrTopicNotFound = errors.New("topic not found")

// ErrTopicMismatch is wrapped by CreateTopic when the topic already exists
// with a different partition count.
var ErrTopicMismatch = errors.New("topic exists with different partition count")

// ErrBadPartition is reported through a send's done callback when
// Message.Partition is outside 0..P-1 (and not -1).
var ErrBadPartition = errors.New("partition out of range")

// ErrClosed is reported by operations on a closed producer or consumer, such
// as a Send after Close.
var ErrClosed = errors.New("closed")
