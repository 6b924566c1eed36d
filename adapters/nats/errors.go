package nats

import "errors"

// ErrInvalidConfig is wrapped by errors from [Config.Validate] and
// [ConfigFromEnv]; the wrapping error names the setting and how to fix it.
var ErrInvalidConfig = errors.New("invalid nats config")

// ErrTopicNotFound is wrapped by errors about a topic whose stream does not
// exist.
var ErrTopicNotFound = errors.New("topic not found")

// ErrTopicMismatch is wrapped by CreateTopic when the topic's stream already
// exists with a different partition count, and by NewConsumer when
// ConsumerConfig.Partitions disagrees with the stream.
var ErrTopicMismatch = errors.New("topic exists with different partition count")

// ErrBadPartition is reported through a send's done callback when
// Message.Partition is outside 0..P-1 (and not -1).
var ErrBadPartition = errors.New("partition out of range")

// ErrClosed is reported by operations on a closed producer, such as a Send
// after Close.
var ErrClosed = errors.New("closed")
