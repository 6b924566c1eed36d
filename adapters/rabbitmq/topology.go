package rabbitmq

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
)

// ProduceOnlySubscription names the queues CreateTopic declares for a
// topic without subscriptions ("<topic>/produced/<p>"), so that a
// produce-only run publishes into queues, as RabbitMQ PerfTest does and
// as Kafka appends to a log, instead of into the void: confirms then mean
// a queue took each message. DeleteTopic deletes them with the topic.
const ProduceOnlySubscription = "produced"

// maxProbePartitions bounds the partition probe of DeleteTopic and Lag for
// topics this System did not create.
const maxProbePartitions = 100_000

// CreateTopic declares the topic's exchange and, for every partition, its
// queues (one per subscription, or the ProduceOnlySubscription's when
// there is none) or its stream, each bound with the partition's routing
// key. It is idempotent for identical specs; a queue
// that exists with another type, retention, delivery limit or dead-letter
// setting fails with the broker's 406 PRECONDITION_FAILED, named in the
// error.
//
// DeadLetter declares, per subscription, a fanout exchange
// "<topic>/<sub>/dlx" and a queue "<topic>/<sub>/dlq" bound to it, and
// points the partition queues' x-dead-letter-exchange at it. MaxDeliveries
// sets x-delivery-limit (MaxDeliveries-1, since RabbitMQ limits returns)
// on quorum queues; classic queues cannot count deliveries, so
// MaxDeliveries on them, and MaxDeliveries or DeadLetter on streams, fail
// with adapters.ErrNotApplicable. Queue declares the partition queues
// without single-active-consumer, so that queue consumers
// (ConsumerConfig.Queue) compete for every partition's messages; streams
// refuse it.
func (r *RabbitMQ) CreateTopic(ctx context.Context, spec adapters.TopicSpec) error {
	if err := checkName("topic", spec.Name); err != nil {
		return err
	}
	if spec.Partitions < 1 {
		return fmt.Errorf("create topic %q: %w: partitions %d must be at least 1", spec.Name, ErrInvalidName, spec.Partitions)
	}
	if spec.RetentionBytes < 0 {
		return fmt.Errorf("create topic %q: %w: retention bytes %d is negative", spec.Name, ErrInvalidName, spec.RetentionBytes)
	}
	for _, sub := range spec.Subscriptions {
		if err := checkName("subscription", sub); err != nil {
			return fmt.Errorf("create topic %q: %w", spec.Name, err)
		}
	}
	if err := r.checkQueueSpec(spec); err != nil {
		return fmt.Errorf("create topic %q: %w", spec.Name, err)
	}
	err := r.withChannel(ctx, func(ch *amqp.Channel) error {
		return ch.ExchangeDeclare(exchangeName(spec.Name), amqp.ExchangeDirect, true, false, false, false, nil)
	})
	if err != nil {
		return fmt.Errorf("create topic %q: declare exchange: %w", spec.Name, err)
	}
	settings := queueSettings{
		retention:     spec.RetentionBytes,
		maxDeliveries: spec.MaxDeliveries,
		deadLetter:    spec.DeadLetter,
		queue:         spec.Queue,
		storage:       r.chooseStorage(spec),
	}
	r.rememberTopic(spec.Name, spec.Partitions, settings)
	subs := spec.Subscriptions
	switch {
	case r.cfg.QueueType == QueueStream:
		subs = []string{""} // one stream per partition, whatever the subscriptions
	case len(subs) == 0:
		subs = []string{ProduceOnlySubscription}
	}
	for _, sub := range subs {
		if err := r.declareQueues(ctx, spec.Name, sub, spec.Partitions, settings); err != nil {
			return fmt.Errorf("create topic %q: %w", spec.Name, err)
		}
		r.rememberSub(spec.Name, sub)
	}
	return nil
}

// declareQueues declares and binds the partition queues of one
// subscription, after its dead-letter exchange and queue if it has them.
// All of a subscription's queues are declared on one channel for speed; a
// failure closes it, which ends the loop with that error.
func (r *RabbitMQ) declareQueues(ctx context.Context, topic, sub string, partitions int, s queueSettings) error {
	if s.deadLetter {
		if err := r.declareDeadLetter(ctx, topic, sub, s.storage); err != nil {
			return err
		}
	}
	args := r.queueArgs(topic, sub, s)
	return r.withChannel(ctx, func(ch *amqp.Channel) error {
		for p := range int32(partitions) {
			if err := ctx.Err(); err != nil {
				return err
			}
			q := r.queueName(topic, sub, p)
			if _, err := ch.QueueDeclare(q, s.durable, false, false, false, args); err != nil {
				if isAMQPCode(err, amqp.PreconditionFailed) {
					return fmt.Errorf("declare queue %q: it exists with other settings (wanted queue type %s, durable %t, retention %d bytes, max deliveries %d, dead letter %t, queue %t); delete the topic first: %w",
						q, s.qtype, s.durable, s.retention, s.maxDeliveries, s.deadLetter, s.queue, err)
				}
				return fmt.Errorf("declare queue %q: %w", q, err)
			}
			if err := ch.QueueBind(q, routingKey(p), exchangeName(topic), false, nil); err != nil {
				return fmt.Errorf("bind queue %q to exchange %q: %w", q, topic, err)
			}
		}
		return nil
	})
}

// ensureSubscription makes sure a consumer's queues exist, declaring them
// only when missing: a subscription not listed in TopicSpec starts empty,
// and redeclaring existing queues could fail on differing settings. The
// settings are those of the topic's CreateTopic through this System; for a
// topic created elsewhere they are unknown and the defaults are used.
func (r *RabbitMQ) ensureSubscription(ctx context.Context, topic, sub string, partitions int) error {
	var missing bool
	for p := range int32(partitions) {
		exists, err := r.queueExists(ctx, r.queueName(topic, sub, p))
		if err != nil {
			return err
		}
		if !exists {
			missing = true
			break
		}
	}
	if missing {
		if err := r.withChannel(ctx, func(ch *amqp.Channel) error {
			return ch.ExchangeDeclarePassive(exchangeName(topic), amqp.ExchangeDirect, true, false, false, false, nil)
		}); err != nil {
			if isAMQPCode(err, amqp.NotFound) {
				return fmt.Errorf("topic %q: %w: create it first", topic, adapters.ErrTopicNotFound)
			}
			return fmt.Errorf("check exchange %q: %w", topic, err)
		}
		if err := r.declareQueues(ctx, topic, sub, partitions, r.settings(topic)); err != nil {
			return err
		}
	}
	r.rememberSub(topic, sub)
	return nil
}

// queueExists checks a queue with a passive declare.
func (r *RabbitMQ) queueExists(ctx context.Context, name string) (bool, error) {
	err := r.withChannel(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
		return err
	})
	switch {
	case err == nil:
		return true, nil
	case isAMQPCode(err, amqp.NotFound):
		return false, nil
	default:
		return false, fmt.Errorf("inspect queue %q: %w", name, err)
	}
}

// DeleteTopic deletes the topic's exchange and the queues of every
// subscription this System created or consumed, with their dead-letter
// queues and exchanges, or the topic's streams.
// Queues of subscriptions only another process knows about cannot be listed
// over AMQP and are left in place (unbound, so they grow no further).
// Deleting a missing topic is not an error.
func (r *RabbitMQ) DeleteTopic(ctx context.Context, topic string) error {
	if err := checkName("topic", topic); err != nil {
		return err
	}
	partitions, subs := r.forgetTopic(topic)
	if r.cfg.QueueType == QueueStream {
		subs = []string{""}
	}
	var errs []error
	for _, sub := range subs {
		if err := r.deleteQueues(ctx, topic, sub, partitions); err != nil {
			errs = append(errs, err)
		}
		if r.cfg.QueueType == QueueStream {
			continue
		}
		if err := r.deleteDeadLetter(ctx, topic, sub); err != nil {
			errs = append(errs, err)
		}
	}
	err := r.withChannel(ctx, func(ch *amqp.Channel) error {
		return ch.ExchangeDelete(exchangeName(topic), false, false)
	})
	if err != nil && !isAMQPCode(err, amqp.NotFound) {
		errs = append(errs, fmt.Errorf("delete exchange: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete topic %q: %w", topic, err)
	}
	return nil
}

// deleteQueues deletes a subscription's partition queues. With an unknown
// partition count (0) it probes partitions upwards until one is missing.
func (r *RabbitMQ) deleteQueues(ctx context.Context, topic, sub string, partitions int) error {
	limit := int32(partitions)
	if partitions == 0 {
		limit = maxProbePartitions
	}
	for p := range limit {
		q := r.queueName(topic, sub, p)
		if partitions == 0 {
			exists, err := r.queueExists(ctx, q)
			if err != nil {
				return err
			}
			if !exists {
				return nil
			}
		}
		err := r.withChannel(ctx, func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(q, false, false, false)
			return err
		})
		if err != nil && !isAMQPCode(err, amqp.NotFound) {
			return fmt.Errorf("delete queue %q: %w", q, err)
		}
	}
	return nil
}

// Lag returns, per partition, the ready messages in the subscription's
// queues as the broker reports them. AMQP's declare-ok counts only ready
// messages, so deliveries held unacknowledged by consumers (at most Prefetch
// per partition and consumer) are not included. Streams keep no per-reader
// state on the broker, so Lag on a stream topic fails with
// adapters.ErrNotApplicable. Partitions that could not be read are missing
// from the map and named in the returned error.
func (r *RabbitMQ) Lag(ctx context.Context, topic, subscription string) (map[int32]int64, error) {
	if r.cfg.QueueType == QueueStream {
		return nil, fmt.Errorf("lag of %q/%q: %w: stream queues keep no broker-side consumer offsets over AMQP",
			topic, subscription, adapters.ErrNotApplicable)
	}
	if err := checkName("topic", topic); err != nil {
		return nil, err
	}
	if err := checkName("subscription", subscription); err != nil {
		return nil, err
	}
	partitions := r.partitions(topic)
	limit := int32(partitions)
	if partitions == 0 {
		limit = maxProbePartitions
	}
	lag := make(map[int32]int64)
	var errs []error
	for p := int32(0); p < limit; p++ {
		q := r.queueName(topic, subscription, p)
		var depth int
		err := r.withChannel(ctx, func(ch *amqp.Channel) error {
			info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
			depth = info.Messages
			return err
		})
		switch {
		case err == nil:
			lag[p] = int64(depth)
		case partitions == 0 && isAMQPCode(err, amqp.NotFound):
			limit = p // probed past the last partition
		default:
			errs = append(errs, fmt.Errorf("partition %d: inspect queue %q: %w", p, q, err))
		}
	}
	if len(lag) == 0 && len(errs) == 0 {
		return nil, fmt.Errorf("lag of %q/%q: %w: no queues found", topic, subscription, adapters.ErrTopicNotFound)
	}
	if err := errors.Join(errs...); err != nil {
		return lag, fmt.Errorf("lag of %q/%q: %w", topic, subscription, err)
	}
	return lag, nil
}

// rememberTopic records a topic created by this System. The settings of
// the first CreateTopic are kept: a repeated CreateTopic with other
// settings declares with its own and fails on the broker's 406, so it must
// not change what later subscriptions are declared with either.
func (r *RabbitMQ) rememberTopic(topic string, partitions int, s queueSettings) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.topics[topic]
	if !ok {
		st = &topicState{subs: make(map[string]bool)}
		r.topics[topic] = st
	}
	if st.partitions == 0 { // not created through this System before
		st.settings = s
	}
	st.partitions = partitions
}

// rememberSub records that this System created or consumed a subscription.
func (r *RabbitMQ) rememberSub(topic, sub string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.topics[topic]
	if !ok {
		st = &topicState{subs: make(map[string]bool)}
		r.topics[topic] = st
	}
	st.subs[sub] = true
}

// forgetTopic drops what this System knows of a topic, returning its
// partition count (0 if unknown) and subscriptions.
func (r *RabbitMQ) forgetTopic(topic string) (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.topics[topic]
	delete(r.topics, topic)
	r.groups.Forget(topic)
	if !ok {
		return 0, nil
	}
	subs := make([]string, 0, len(st.subs))
	for s := range st.subs {
		subs = append(subs, s)
	}
	return st.partitions, subs
}

// partitions returns the known partition count of a topic, or 0.
func (r *RabbitMQ) partitions(topic string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.topics[topic]; ok {
		return st.partitions
	}
	return 0
}

// settings returns the known queue settings of a topic, or, for a topic
// created elsewhere, the zero settings with the storage of a topic that
// asks for no durability level.
func (r *RabbitMQ) settings(topic string) queueSettings {
	r.mu.Lock()
	var s queueSettings
	if st, ok := r.topics[topic]; ok {
		s = st.settings
	}
	r.mu.Unlock()
	if s.qtype != "" {
		return s
	}
	return queueSettings{storage: r.chooseStorage(adapters.TopicSpec{})}
}
