package rabbitmq

import "errors"

// Sentinel errors particular to RabbitMQ. Errors returned by this package
// wrap one of these or one of the shared sentinels of package adapters
// (ErrInvalidConfig, ErrClosed, ErrTopicNotFound, ErrBadPartition,
// ErrUnavailable, ErrNotApplicable) together with what was being done, so
// callers can classify them with errors.Is.
var (
	// ErrInvalidName is wrapped when a topic or subscription name cannot be
	// mapped to RabbitMQ exchange and queue names.
	ErrInvalidName = errors.New("invalid topic or subscription name")
	// ErrUnroutable is reported for a publish the broker returned because no
	// queue is bound for its partition (mandatory flag): typically a topic
	// created without subscriptions, or a partition out of range.
	ErrUnroutable = errors.New("rabbitmq: message unroutable")
	// ErrNacked is reported for a publish the broker negatively confirmed.
	ErrNacked = errors.New("rabbitmq: publish nacked by broker")
	// ErrDisposition is recorded, and returned by Consumer.Close, when a
	// Handler's Release or Reject cannot be applied (CommitAuto has acked
	// the message already; streams have no nack) or its Disposition is not
	// a known value. The delivery then counts as accepted.
	ErrDisposition = errors.New("rabbitmq: disposition not applied")
)
