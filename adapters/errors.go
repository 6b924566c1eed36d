package adapters

import "errors"

// The error vocabulary every adapter shares. An adapter's errors wrap one
// of these together with what was being done (and the system's name), so
// callers classify them with errors.Is whatever the system.
var (
	// ErrNotApplicable is wrapped by errors returned when a workload needs
	// a capability the system lacks. The wrapping error says which and
	// why.
	ErrNotApplicable = errors.New("not applicable")
	// ErrUnavailable is wrapped by errors returned when a system cannot be
	// reached at all, such as a refused connection at start-up.
	ErrUnavailable = errors.New("system unavailable")
	// ErrInvalidConfig is wrapped by every error of an adapter's
	// Config.Validate and ConfigFromEnv; the wrapping error names the
	// setting and how to fix it.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrClosed is reported by operations on a closed system, producer or
	// consumer (a Send after Close, or after Crash), including through a
	// send's done callback.
	ErrClosed = errors.New("closed")
	// ErrTopicNotFound is wrapped by errors about a topic that CreateTopic
	// never created (or that was deleted).
	ErrTopicNotFound = errors.New("topic not found")
	// ErrTopicMismatch is wrapped by CreateTopic when the topic already
	// exists with a different partition count, and by consumers whose
	// ConsumerConfig.Partitions disagrees with the topic.
	ErrTopicMismatch = errors.New("topic exists with a different partition count")
	// ErrBadPartition is reported through a send's done callback when
	// Message.Partition is outside 0..P-1 (and not -1), or cannot be
	// chosen because the topic's partition count is unknown.
	ErrBadPartition = errors.New("partition out of range")
)
