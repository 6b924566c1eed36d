package rabbitmq

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
)

var _ adapters.DeadLetterCounter = (*RabbitMQ)(nil)

// Queue arguments and headers of RabbitMQ's queue semantics; the library
// has no constants for them.
const (
	// argDeadLetterExchange names the exchange a queue dead-letters to.
	argDeadLetterExchange = "x-dead-letter-exchange"
	// argDeliveryLimit is the quorum-queue delivery limit: the number of
	// returns (nack with requeue, consumer failure) a message may have. A
	// message is delivered at most limit+1 times, then dead-lettered or
	// dropped (checked against RabbitMQ 3.10.8: limit 0 means one delivery).
	argDeliveryLimit = "x-delivery-limit"
	// deliveryCountHeader is set by quorum queues on a redelivered message
	// to the number of returns so far; absent on a first delivery.
	deliveryCountHeader = "x-delivery-count"
)

// queueSettings are the per-topic options that go into a partition
// queue's declare arguments. The broker refuses (406) a redeclare with
// other arguments, so a subscription declared later must use the same.
type queueSettings struct {
	retention     int64 // TopicSpec.RetentionBytes; 0 = unbounded
	maxDeliveries int   // TopicSpec.MaxDeliveries; 0 = no limit
	deadLetter    bool  // TopicSpec.DeadLetter
	queue         bool  // TopicSpec.Queue: no single-active-consumer
	storage             // queue type, durability and persistence (durability.go)
}

// deadLetterExchange is the fanout exchange the partition queues of
// subscription sub dead-letter to. A fanout exchange needs no routing key,
// so dead-lettered messages keep their original one (the partition), which
// RabbitMQ also records in the x-death header.
func deadLetterExchange(topic, sub string) string { return topic + "/" + sub + "/dlx" }

// deadLetterQueue is the queue bound to deadLetterExchange(topic, sub). It
// cannot collide with a partition queue, whose last name part is a number.
func deadLetterQueue(topic, sub string) string { return topic + "/" + sub + "/dlq" }

// checkQueueSpec rejects queue options the configured queue type cannot
// honour, with adapters.ErrNotApplicable, rather than ignoring them.
func (r *RabbitMQ) checkQueueSpec(spec adapters.TopicSpec) error {
	switch {
	case spec.MaxDeliveries < 0:
		return fmt.Errorf("%w: MaxDeliveries %d is negative", ErrInvalidName, spec.MaxDeliveries)
	case r.cfg.QueueType == QueueStream && (spec.MaxDeliveries > 0 || spec.DeadLetter || spec.Queue):
		return fmt.Errorf("Queue/MaxDeliveries/DeadLetter: %w: stream queues have no competing consumers, nack, reject or dead-lettering",
			adapters.ErrNotApplicable)
	case r.cfg.QueueType == QueueClassic && spec.MaxDeliveries > 0:
		// Only an explicit classic setting gets here: a type chosen from
		// the durability level becomes quorum for a delivery limit.
		// Classic queues only flag a redelivery; they do not count. An
		// adapter-side count would be wrong after any redelivery it did
		// not see (another process, a restart), so the limit is refused.
		return fmt.Errorf("MaxDeliveries %d: %w: classic queues have no delivery limit or delivery count; use QueueType quorum",
			spec.MaxDeliveries, adapters.ErrNotApplicable)
	}
	return nil
}

// addQueueArgs adds the dead-letter and delivery-limit arguments of s for
// subscription sub to a partition queue's declare arguments.
func addQueueArgs(args amqp.Table, topic, sub string, s queueSettings) {
	if s.deadLetter {
		args[argDeadLetterExchange] = deadLetterExchange(topic, sub)
	}
	if s.maxDeliveries > 0 {
		// RabbitMQ limits returns, not deliveries: see argDeliveryLimit.
		args[argDeliveryLimit] = int64(s.maxDeliveries - 1)
	}
}

// declareDeadLetter declares subscription sub's dead-letter exchange and
// queue and binds them. The queue has the topic's queue type (so a quorum
// topic's dead letters are replicated too) but neither single-active-
// consumer nor retention: it is an archive, drained by whoever inspects it.
func (r *RabbitMQ) declareDeadLetter(ctx context.Context, topic, sub string, st storage) error {
	dlx, dlq := deadLetterExchange(topic, sub), deadLetterQueue(topic, sub)
	return r.withChannel(ctx, func(ch *amqp.Channel) error {
		if err := ch.ExchangeDeclare(dlx, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare dead-letter exchange %q: %w", dlx, err)
		}
		args := amqp.Table{"x-queue-type": string(st.qtype)}
		if _, err := ch.QueueDeclare(dlq, st.durable, false, false, false, args); err != nil {
			return fmt.Errorf("declare dead-letter queue %q: %w", dlq, err)
		}
		if err := ch.QueueBind(dlq, "", dlx, false, nil); err != nil {
			return fmt.Errorf("bind dead-letter queue %q to %q: %w", dlq, dlx, err)
		}
		return nil
	})
}

// deleteDeadLetter deletes subscription sub's dead-letter queue and
// exchange; missing ones are not an error. It is tried for every
// subscription, since another process may have created them.
func (r *RabbitMQ) deleteDeadLetter(ctx context.Context, topic, sub string) error {
	dlx, dlq := deadLetterExchange(topic, sub), deadLetterQueue(topic, sub)
	err := r.withChannel(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete(dlq, false, false, false)
		return err
	})
	if err != nil && !isAMQPCode(err, amqp.NotFound) {
		return fmt.Errorf("delete dead-letter queue %q: %w", dlq, err)
	}
	err = r.withChannel(ctx, func(ch *amqp.Channel) error {
		return ch.ExchangeDelete(dlx, false, false)
	})
	if err != nil && !isAMQPCode(err, amqp.NotFound) {
		return fmt.Errorf("delete dead-letter exchange %q: %w", dlx, err)
	}
	return nil
}

// DeadLettered returns the number of messages in subscription's
// dead-letter queue "<topic>/<subscription>/dlq", as the broker's passive
// queue.declare reports it (ready messages; nobody consumes it). Quorum
// queues dead-letter asynchronously and at most once, so a just-rejected
// message may take a moment to be counted. A topic created without
// DeadLetter gives an error wrapping adapters.ErrTopicNotFound; a stream topic one
// wrapping adapters.ErrNotApplicable. Safe for concurrent use.
func (r *RabbitMQ) DeadLettered(ctx context.Context, topic, subscription string) (int64, error) {
	if r.cfg.QueueType == QueueStream {
		return 0, fmt.Errorf("dead-lettered of %q/%q: %w: stream queues have no dead-lettering", topic, subscription, adapters.ErrNotApplicable)
	}
	if err := checkName("topic", topic); err != nil {
		return 0, err
	}
	if err := checkName("subscription", subscription); err != nil {
		return 0, err
	}
	dlq := deadLetterQueue(topic, subscription)
	var n int
	err := r.withChannel(ctx, func(ch *amqp.Channel) error {
		info, err := ch.QueueDeclarePassive(dlq, true, false, false, false, nil)
		n = info.Messages
		return err
	})
	switch {
	case err == nil:
		return int64(n), nil
	case isAMQPCode(err, amqp.NotFound):
		return 0, fmt.Errorf("dead-lettered of %q/%q: %w: no dead-letter queue %q (create the topic with DeadLetter)",
			topic, subscription, adapters.ErrTopicNotFound, dlq)
	default:
		return 0, fmt.Errorf("dead-lettered of %q/%q: inspect queue %q: %w", topic, subscription, dlq, err)
	}
}

// deliveryCount is Delivery.DeliveryCount for m: 1 + the quorum queue's
// x-delivery-count header (absent on a first delivery), or 0 on classic
// queues and streams, which do not count deliveries.
func (c *consumer) deliveryCount(m *amqp.Delivery) int {
	if c.qtype != QueueQuorum {
		return 0
	}
	n, ok := headerInt(m.Headers[deliveryCountHeader])
	if !ok || n < 0 {
		return 1
	}
	return int(n) + 1
}

// headerInt converts an integer AMQP table value, whatever width the
// broker encoded it with, to int64.
func headerInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	case int:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	}
	return 0, false
}
