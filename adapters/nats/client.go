package nats

// How the adapter drives NATS: every default that sizes a producer or a
// consumer is decided here, once, by planProducer and planConsumer, which
// NewProducer, NewConsumer, CreateTopic's durables and ClientSettings all
// use, so that what a result says is what was done. Each default carries
// its reason; docs/adapters/nats.md has the table with sources.

import (
	"strconv"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
)

var _ adapters.ClientReporter = (*NATS)(nil)

// producerPlan is how a producer publishes.
type producerPlan struct {
	// window bounds sends awaiting their publish ack: the adapter's slots
	// and nats.go's PublishAsyncMaxPending, so the two never disagree
	// (a smaller library window would stall sends the adapter let through).
	window int
	// dedup sets a Nats-Msg-Id on every message, so the stream drops a
	// re-publish within its duplicate window.
	dedup bool
}

// Reasons of the producer defaults.
const (
	reasonWindow = "ProducerConfig.MaxInFlight, or 1000 when unset; also nats.go PublishAsyncMaxPending (its default 4000), so sends block on one bound, not two"
	reasonDedup  = "only when the workload asks for idempotence explicitly (delivery.idempotent: true) or with Config.Dedup (BROKERBENCH_NATS_DEDUP): neither the adapter nor nats.go re-publishes a message the stream may have stored (nats.go retries only on no responders, when nothing was stored), so ids would buy nothing for their cost (a lookup per message in the duplicate window)"
)

func planProducer(cfg Config, p adapters.ProducerConfig) producerPlan {
	window := p.MaxInFlight
	if window <= 0 {
		window = DefaultMaxInFlight
	}
	return producerPlan{window: window, dedup: p.Idempotent && (cfg.Dedup || p.IdempotenceRequested)}
}

// dedupOn reports whether a producer made with p sets Nats-Msg-Id.
func dedupOn(cfg Config, p adapters.ProducerConfig) bool { return planProducer(cfg, p).dedup }

// consumerPlan is how a consumer's durables are configured and pulled.
type consumerPlan struct {
	// ackPolicy of durables the adapter creates: AckAll for partitioned
	// consumption (one member per partition acks the last message of a
	// stretch, like a Kafka commit), AckExplicit for queue consumption
	// (competing members ack their own messages), AckNone for CommitAuto.
	ackPolicy jetstream.AckPolicy
	// maxAckPending of each partition's durable: unacknowledged deliveries
	// the server allows before it stops delivering.
	maxAckPending int
	// ackWait of each durable: how long a delivery may stay unacknowledged
	// before JetStream redelivers it.
	ackWait time.Duration
	// batch is the pull size per partition (PullMaxMessages); nats.go
	// pulls again when half of it is consumed.
	batch int
	// interval is the commit cadence: cumulative acks and their
	// confirmation (PING/PONG) every interval; 0 with CommitSync and
	// CommitAuto.
	interval time.Duration
}

// Reasons of the consumer defaults.
const (
	reasonAckAll        = "one member reads a partition in order, so acking the last accepted message acknowledges the stretch before it (AckAll), like a Kafka commit: one ack per commit instead of one per message"
	reasonAckExplicit   = "queue consumption: competing members ack their own messages, which a cumulative ack would not allow"
	reasonMaxAckPending = "ConsumerConfig.Prefetch, or 1000 when unset (JetStream's own default for MaxAckPending)"
	reasonAckWait       = "ConsumerConfig.SessionTimeout, or 30s when unset (JetStream's default AckWait); must exceed the commit interval"
	reasonBatch         = "MaxAckPending spread over the partitions a member may pull, so the buffers of all partitions stay within what the server lets out"
	reasonAckCadence    = "every commit interval (the workload's delivery.commitInterval), or sooner once half of MaxAckPending is unacknowledged, so the server never stops delivering for want of an ack"
)

func planConsumer(c adapters.ConsumerConfig, parts int) consumerPlan {
	pl := consumerPlan{
		ackPolicy:     jetstream.AckAllPolicy,
		maxAckPending: c.Prefetch,
		ackWait:       c.SessionTimeout,
	}
	if pl.maxAckPending <= 0 {
		pl.maxAckPending = DefaultPrefetch
	}
	if pl.ackWait <= 0 {
		pl.ackWait = DefaultSessionTimeout
	}
	switch {
	case c.Commit == adapters.CommitAuto:
		pl.ackPolicy = jetstream.AckNonePolicy
	case c.Queue:
		pl.ackPolicy = jetstream.AckExplicitPolicy
	}
	if c.Commit == "" || c.Commit == adapters.CommitInterval {
		pl.interval = c.CommitInterval
		if pl.interval <= 0 {
			pl.interval = time.Second
		}
	}
	pl.batch = max(1, (pl.maxAckPending+max(parts, 1)-1)/max(parts, 1))
	return pl
}

// ackEvery is how many accepted deliveries of a partition a member may
// leave unacknowledged before it acks cumulatively without waiting for the
// commit interval: half of the durable's MaxAckPending (the durable's, not
// the plan's, since a durable made by an earlier consumer keeps its own).
func (consumerPlan) ackEvery(maxAckPending int) int {
	if maxAckPending <= 0 { // -1: unlimited
		return DefaultPrefetch
	}
	return max(1, maxAckPending/2)
}

// ClientSettings implements adapters.ClientReporter: the effective
// settings of producers and consumers made with p and c, from the same
// plans NewProducer and NewConsumer use. c.Partitions (the runner sets it)
// sizes the pull batch; 0 counts as one partition.
func (n *NATS) ClientSettings(p adapters.ProducerConfig, c adapters.ConsumerConfig) []adapters.ClientSetting {
	set := func(name, value, reason string, fromWorkload bool) adapters.ClientSetting {
		if fromWorkload {
			reason = ""
		}
		return adapters.ClientSetting{Name: name, Value: value, Reason: reason}
	}
	out := []adapters.ClientSetting{
		set("client", "github.com/nats-io/nats.go v"+natsgo.Version+" (jetstream package)", "", true),
		set("connections", "one per producer and one per consumer", "a consumer's Crash drops only its own connection, as a crashed process would", false),
	}
	if p.ID != "" {
		pp := planProducer(n.cfg, p)
		publish := "PublishMsgAsync, completed by JetStream's publish ack"
		if p.Acks == adapters.AcksNone {
			publish = "core NATS publish, no ack (acks=0)"
		}
		out = append(out,
			set("publish", publish, "", true),
			set("publish async window", strconv.Itoa(pp.window), reasonWindow, p.MaxInFlight > 0),
			set("Nats-Msg-Id (de-duplication)", onOff(pp.dedup), reasonDedup, false),
			set("batching", "none: one message per publish; nats.go coalesces writes in its buffered connection", "JetStream has no batch publish (before 2.12's atomic batches); Linger, BatchBytes and Compression do not apply", false),
		)
	}
	if c.ID != "" {
		cp := planConsumer(c, c.Partitions)
		ack := map[jetstream.AckPolicy]string{
			jetstream.AckAllPolicy:      "AckAll, cumulative per partition",
			jetstream.AckExplicitPolicy: "AckExplicit, per message",
			jetstream.AckNonePolicy:     "AckNone",
		}[cp.ackPolicy]
		ackReason := reasonAckAll
		switch cp.ackPolicy {
		case jetstream.AckExplicitPolicy:
			ackReason = reasonAckExplicit
		case jetstream.AckNonePolicy:
			ackReason = ""
		}
		cadence := "every " + cp.interval.String() + " or every " + strconv.Itoa(cp.ackEvery(cp.maxAckPending)) + " deliveries per partition"
		switch {
		case c.Commit == adapters.CommitSync:
			cadence = "every message, waiting for the server's reply (CommitSync)"
		case c.Commit == adapters.CommitAuto:
			cadence = "none (AckNone, CommitAuto)"
		case c.Queue:
			cadence = "every message once handled; confirmed every " + cp.interval.String()
		}
		mapping := "a durable pull consumer per partition, one member per partition (local group)"
		if c.Queue {
			mapping = "a durable pull consumer per partition, every member pulling from every one (competing)"
		}
		out = append(out,
			set("partition mapping", mapping, "", true),
			set("ack policy", ack, ackReason, false),
			set("ack cadence", cadence, reasonAckCadence, c.Commit == adapters.CommitSync || c.Commit == adapters.CommitAuto || c.Queue),
			set("MaxAckPending per durable", strconv.Itoa(cp.maxAckPending), reasonMaxAckPending, c.Prefetch > 0),
			set("AckWait", cp.ackWait.String(), reasonAckWait, c.SessionTimeout > 0),
			set("pull batch per partition", strconv.Itoa(cp.batch), reasonBatch, false),
		)
	}
	return out
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
