package sqs

import "errors"

// The errors only SQS reports. Everything else wraps the shared
// sentinels of package adapters (ErrClosed, ErrTopicNotFound,
// ErrTopicMismatch, ErrBadPartition, ErrInvalidConfig).

// ErrNoSubscription is reported through a send's done callback when the
// topic has no subscription: SQS stores a message only in a subscription's
// queue, so the message would be lost.
var ErrNoSubscription = errors.New("topic has no subscription")

// ErrTooLarge is reported through a send's done callback when the encoded
// message exceeds the SQS limit of 256 KiB.
var ErrTooLarge = errors.New("message too large for SQS")
