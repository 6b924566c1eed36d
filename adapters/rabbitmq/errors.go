package rabbitmq

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these (or
// adapters.ErrUnavailable / adapters.ErrNotApplicable) together with what was
// being done, so callers can classify them with errors.Is.
var (
	// ErrInvalidConfig is wrapped by Config.Validate and ConfigFromEnv errors.
	ErrInvalidConfig = errors.New("invalid rabbitmq config")
	// ErrInvalidName is wrapped when a topic or subscription name cannot be
	// mapped to RabbitMQ exchange and queue names.
	ErrInvalidName = errors.New("invalid topic or subscription name")
	// ErrClosed is reported by a producer or consumer used after Close or
	// Crash, and by a send whose connection was closed before its confirm.
	ErrClosed = errors.New("rabbitmq: closed")
	// ErrUnroutable is reported for a publish the broker returned because no
	// queue is bound for its partition (mandatory flag): typically a topic
	// created without subscriptions, or a partition out of range.
	ErrUnroutable = errors.New("rabbitmq: message unroutable")
	// ErrNacked is reported for a publish the broker negatively confirmed.
	ErrNacked = errors.New("rabbitmq: publish nacked by broker")
	// ErrUnknownTopic is reported for a send to a topic whose exchange does
	// not exist, or a consumer of a topic whose partition count is unknown.
	ErrUnknownTopic = errors.New("rabbitmq: unknown topic")
	// ErrPartition is reported for a send whose partition is out of range or
	// cannot be chosen because the topic's partition count is unknown.
	ErrPartition = errors.New("rabbitmq: bad partition")
	// ErrDisposition is recorded, and returned by Consumer.Close, when a
	// Handler's Release or Reject cannot be applied (CommitAuto has acked
	// the message already; streams have no nack) or its Disposition is not
	// a known value. The delivery then counts as accepted.
	ErrDisposition = errors.New("rabbitmq: disposition not applied")
)
