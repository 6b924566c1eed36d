package sqs

import "errors"

// ErrInvalidConfig is wrapped by errors from [Config.Validate] and
// [ConfigFromEnv]; the wrapping error names the setting and how to fix it.
var ErrInvalidConfig = errors.New("invalid sqs config")

// ErrTopicNotFound is wrapped by errors about a topic that CreateTopic never
// created (its metadata queue is missing).
var ErrTopicNotFound = errors.New("topic not found")

// ErrTopicMismatch is wrapped by CreateTopic when the topic already exists
// with a different partition count or queue type.
var ErrTopicMismatch = errors.New("topic exists with different settings")

// ErrBadPartition is reported through a send's done callback when
// Message.Partition is outside 0..P-1 (and not -1).
var ErrBadPartition = errors.New("partition out of range")

// ErrNoSubscription is reported through a send's done callback when the
// topic has no subscription: SQS stores a message only in a subscription's
// queue, so the message would be lost.
var ErrNoSubscription = errors.New("topic has no subscription")

// ErrTooLarge is reported through a send's done callback when the encoded
// message exceeds the SQS limit of 256 KiB.
var ErrTooLarge = errors.New("message too large for SQS")

// ErrClosed is reported by operations on a closed producer or consumer, such
// as a Send after Close.
var ErrClosed = errors.New("closed")
