package rabbitmq

import (
	"context"
	"fmt"
	"maps"
	"slices"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
)

// Durability reports what RabbitMQ gives the topic's messages, from what
// the server confirms about the topic's first queue: it re-declares that
// queue with the arguments it was created with (durable, x-queue-type),
// which the broker accepts only when they are equivalent to the queue's
// own, so the evidence is the server's, not this adapter's intent.
//
//   - classic or quorum queue, durable, persistent messages, confirms:
//     sync-disk. RabbitMQ confirms a persistent message routed to durable
//     queues once it is written and fsynced (classic) or fsynced by a
//     quorum of the queue's Raft members (quorum).
//   - quorum queue on several nodes: replicated. The AMQP protocol does not
//     expose cluster membership, so this is not claimed; the evidence says
//     so.
//   - stream: async-disk. Streams confirm after replication without an
//     fsync.
//   - no confirms (acks=0): memory, the send completes before the broker
//     has the message.
//
// The level is not applied per topic yet: the queue type is the adapter's
// (BROKERBENCH_RABBITMQ_QUEUE_TYPE) and the read-back reports it.
func (r *RabbitMQ) Durability(ctx context.Context, topic string, acks adapters.Acks) (adapters.DurabilityReport, error) {
	var rep adapters.DurabilityReport
	r.mu.Lock()
	st := r.topics[topic]
	var sub string
	var settings queueSettings
	if st != nil {
		settings = st.settings
		if subs := slices.Sorted(maps.Keys(st.subs)); len(subs) > 0 {
			sub = subs[0]
		}
	}
	r.mu.Unlock()
	if st == nil {
		return rep, fmt.Errorf("durability of topic %q: %w", topic, adapters.ErrTopicNotFound)
	}
	q := r.queueName(topic, sub, 0)
	args := r.queueArgs(topic, sub, settings)
	err := r.withChannel(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(q, true, false, false, false, args)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("durability of topic %q: re-declare queue %q: %w", topic, q, err)
	}
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("server accepted queue %s as durable with x-queue-type=%s", q, r.cfg.QueueType))
	switch {
	case acks == adapters.AcksNone:
		rep.Effective = adapters.DurabilityMemory
		rep.Evidence = append(rep.Evidence, "producers use acks=0: no publisher confirms, a send completes before the broker has it")
	case r.cfg.QueueType == QueueStream:
		rep.Effective = adapters.DurabilityAsyncDisk
		rep.Evidence = append(rep.Evidence, "streams confirm without an fsync")
	default:
		rep.Effective = adapters.DurabilitySyncDisk
		rep.Evidence = append(rep.Evidence, "persistent messages (delivery mode 2) with publisher confirms: confirmed after fsync")
		if r.cfg.QueueType == QueueQuorum {
			rep.Evidence = append(rep.Evidence, "quorum queue replica count unknown (AMQP does not expose cluster membership): replicated not claimed")
		}
	}
	return rep, nil
}

var _ adapters.Durabler = (*RabbitMQ)(nil)
