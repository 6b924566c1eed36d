package rabbitmq

import (
	"context"
	"fmt"
	"maps"
	"slices"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
)

// storage is how a topic's messages are kept: the queue type, whether the
// queues are durable and whether messages are published persistent
// (delivery mode 2). CreateTopic chooses it from the workload's durability
// level ([chooseStorage]); the producers and the read-back use it.
type storage struct {
	qtype      QueueType
	durable    bool
	persistent bool
	// why says how qtype was chosen, for the read-back's evidence.
	why string
}

// chooseStorage maps a topic's requested durability to queues and
// messages. An explicit Config.QueueType wins over the level; persistence
// then still follows the level where the type allows it (classic queues).
//
//   - memory: classic transient (non-durable) queues, non-persistent
//     messages: a broker restart loses both.
//   - async-disk: classic durable queues, persistent messages. RabbitMQ
//     has no classic mode that confirms before the disk: it confirms a
//     persistent message on a durable classic queue once its message store
//     has written and fsynced it, in batches every few hundred ms
//     (rabbitmq.com/docs/confirms, "Ack Latency for Persistent Messages"),
//     so the level read back is sync-disk, above the one asked for.
//   - sync-disk and replicated: quorum queues (Raft: a confirm means a
//     quorum of members fsynced it). Replicated only with three members or
//     more, which the read-back checks.
//   - none requested: quorum, RabbitMQ's recommended durable type.
//
// A delivery limit needs quorum queues (classic ones do not count
// deliveries), so a level that chose classic gets quorum then, which is
// safer than asked.
func (r *RabbitMQ) chooseStorage(spec adapters.TopicSpec) storage {
	st := storage{qtype: QueueQuorum, durable: true, persistent: true}
	switch spec.Durability {
	case adapters.DurabilityMemory:
		st = storage{qtype: QueueClassic, why: "durability memory: classic transient queue, non-persistent messages"}
	case adapters.DurabilityAsyncDisk:
		st = storage{qtype: QueueClassic, durable: true, persistent: true, why: "durability async-disk: classic durable queue, persistent messages"}
	case adapters.DurabilitySyncDisk, adapters.DurabilityReplicated:
		st.why = "durability " + string(spec.Durability) + ": quorum queue"
	default:
		st.why = "no durability requested: quorum queue, RabbitMQ's recommended durable type"
	}
	if st.qtype == QueueClassic && spec.MaxDeliveries > 0 {
		st = storage{qtype: QueueQuorum, durable: true, persistent: true,
			why: st.why + ", made quorum because classic queues cannot count deliveries (maxDeliveries)"}
	}
	if r.cfg.QueueType != "" && r.cfg.QueueType != st.qtype {
		st.why = fmt.Sprintf("queue type %s set explicitly (BROKERBENCH_RABBITMQ_QUEUE_TYPE) instead of %s (%s)", r.cfg.QueueType, st.qtype, st.why)
		st.qtype = r.cfg.QueueType
	}
	if st.qtype != QueueClassic {
		st.durable, st.persistent = true, true // quorum queues and streams are always durable
	}
	if r.cfg.Transient && st.qtype == QueueClassic {
		st.persistent = false
		st.why += "; Transient set: non-persistent messages"
	}
	return st
}

// replicatedMembers is the number of quorum queue members from which a
// confirm means "replicated": a quorum of three survives the loss of one.
const replicatedMembers = 3

// Durability reports what RabbitMQ gives the topic's messages, from what
// the server confirms about the topic's first queue: it re-declares that
// queue with the arguments it was created with (durable, x-queue-type),
// which the broker accepts only when they are equivalent to the queue's
// own, so the evidence is the server's, not this adapter's intent.
//
//   - no confirms (acks=0), or a transient queue or non-persistent
//     messages: memory.
//   - classic durable queue, persistent messages, confirms: sync-disk (see
//     [RabbitMQ.chooseStorage] for the documentation).
//   - quorum queue: sync-disk on one node; replicated when the management
//     API lists at least three members for the queue. AMQP does not expose
//     cluster membership, so without the management API (Config.
//     ManagementURL) only one node's level is claimed and the evidence
//     says why.
//   - stream: async-disk. Streams confirm after replication without an
//     fsync.
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
	if st == nil || settings.qtype == "" {
		return rep, fmt.Errorf("durability of topic %q: %w", topic, adapters.ErrTopicNotFound)
	}
	q := r.queueName(topic, sub, 0)
	args := r.queueArgs(topic, sub, settings)
	err := r.withChannel(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(q, settings.durable, false, false, false, args)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("durability of topic %q: re-declare queue %q: %w", topic, q, err)
	}
	s := settings.storage
	rep.Evidence = append(rep.Evidence, s.why,
		fmt.Sprintf("server accepted queue %s as durable=%t with x-queue-type=%s", q, s.durable, s.qtype))
	switch {
	case acks == adapters.AcksNone:
		rep.Effective = adapters.DurabilityMemory
		rep.Evidence = append(rep.Evidence, "producers use acks=0: no publisher confirms, a send completes before the broker has it")
	case s.qtype == QueueStream:
		rep.Effective = adapters.DurabilityAsyncDisk
		rep.Evidence = append(rep.Evidence, "streams confirm without an fsync")
	case !s.durable || !s.persistent:
		rep.Effective = adapters.DurabilityMemory
		rep.Evidence = append(rep.Evidence, fmt.Sprintf("transient queue or non-persistent messages (persistent=%t): a broker restart loses them", s.persistent))
	case s.qtype == QueueClassic:
		rep.Effective = adapters.DurabilitySyncDisk
		rep.Evidence = append(rep.Evidence, "persistent messages (delivery mode 2) on a durable classic queue with publisher confirms: confirmed once written and fsynced, in batches (rabbitmq.com/docs/confirms)")
	default:
		rep.Effective = adapters.DurabilitySyncDisk
		rep.Evidence = append(rep.Evidence, "quorum queue with publisher confirms: confirmed once a quorum of its members fsynced it")
		members, err := r.queueMembers(ctx, q)
		switch {
		case err != nil:
			rep.Evidence = append(rep.Evidence, fmt.Sprintf("quorum queue members unknown (%v): one node's level claimed", err))
		case len(members) >= replicatedMembers:
			rep.Effective = adapters.DurabilityReplicated
			rep.Evidence = append(rep.Evidence, fmt.Sprintf("management API: queue %s has %d members %v", q, len(members), members))
		default:
			rep.Evidence = append(rep.Evidence, fmt.Sprintf("management API: queue %s has %d member(s) %v, fewer than %d: not replicated", q, len(members), members, replicatedMembers))
		}
	}
	return rep, nil
}

var _ adapters.Durabler = (*RabbitMQ)(nil)
