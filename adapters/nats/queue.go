package nats

// Queue semantics on JetStream.
//
//   - Release is Nak: JetStream redelivers the message at once (to any member
//     pulling from the durable) and counts the delivery (NumDelivered, which
//     becomes Delivery.DeliveryCount).
//   - The delivery limit is the durables' MaxDeliver. JetStream has no
//     dead-letter queue: at MaxDeliver it simply stops redelivering, emits
//     the advisory $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<durable>
//     and leaves the message in the stream. So the adapter dead-letters
//     itself, in two places:
//     1. a Release of a delivery whose NumDelivered has reached MaxDeliver is
//     turned into a dead-letter (copy, then Term), since a Nak would only
//     make JetStream drop it silently;
//     2. a message whose last delivery was never settled (its consumer
//     crashed, or the copy in 1 failed) reaches MaxDeliver by AckWait
//     expiry; JetStream then emits the advisory, and every live member of
//     the subscription, which listens for its durables' advisories, reads
//     the message by stream sequence and copies it.
//   - Reject copies the message to the subscription's dead-letter subject
//     (when the topic has DeadLetter) and then Terms it. The copy is a
//     JetStream publish that waits for the stream's ack, so a crash between
//     the two leaves the message unacknowledged and redelivered, never lost.
//     Copies carry Nats-Msg-Id "<durable>:<stream sequence>", so the
//     dead-letter stream's duplicate window (2 minutes) drops the second
//     copy of one message (a retried reject, or several members answering
//     one advisory).
//
// The dead-letter destination of a topic is one stream "BBDLQ_<topic>" with
// one subject "bbdlq.<topic>.<subscription>" per subscription: existence of
// that stream is how consumers know the topic has DeadLetter (servers before
// 2.10 have no stream metadata), and DeadLettered counts one subject.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
)

// Headers of a dead-letter copy, besides keyHeader copied from the original.
const (
	dlqPartitionHeader  = "Bb-Dlq-Partition"  // partition the message came from
	dlqSequenceHeader   = "Bb-Dlq-Sequence"   // its stream sequence there
	dlqDeliveriesHeader = "Bb-Dlq-Deliveries" // its delivery count when dead-lettered
)

// dlqStreamName is the dead-letter stream of a topic. The "BBDLQ_" prefix
// cannot collide with a topic stream, which all start with "BB_".
func dlqStreamName(topic string) string { return "BBDLQ_" + sanitize(topic) }

// dlqSubject is a subscription's dead-letter subject.
func dlqSubject(topic, sub string) string { return "bbdlq." + sanitize(topic) + "." + sanitize(sub) }

// createDLQStream creates the topic's dead-letter stream (idempotent), with
// the storage and replicas of the topic's stream and no limits.
func (n *NATS) createDLQStream(ctx context.Context, topic string) error {
	sc := jetstream.StreamConfig{
		Name:      dlqStreamName(topic),
		Subjects:  []string{"bbdlq." + sanitize(topic) + ".*"},
		Retention: jetstream.LimitsPolicy,
		MaxBytes:  -1,
		MaxMsgs:   -1,
		Storage:   jetstream.FileStorage,
		Replicas:  n.cfg.Replicas,
	}
	if n.cfg.Storage == "memory" {
		sc.Storage = jetstream.MemoryStorage
	}
	_, err := n.js.CreateStream(ctx, sc)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create dead-letter stream %s: %w", sc.Name, err)
	}
	return nil
}

// hasDLQ reports whether topic has a dead-letter stream.
func hasDLQ(ctx context.Context, js jetstream.JetStream, topic string) (bool, error) {
	_, err := js.Stream(ctx, dlqStreamName(topic))
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up dead-letter stream of topic %q: %w", topic, err)
	}
	return true, nil
}

// DeadLettered returns how many messages the subscription's dead-letter
// subject holds; 0 for a topic without DeadLetter. A missing topic gives an
// error wrapping adapters.ErrTopicNotFound.
func (n *NATS) DeadLettered(ctx context.Context, topic, subscription string) (int64, error) {
	s, err := n.js.Stream(ctx, dlqStreamName(topic))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, _, err := streamPartitions(ctx, n.js, topic); err != nil {
			return 0, fmt.Errorf("dead-lettered: %w", err)
		}
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("dead-lettered of %q: look up stream: %w", topic, err)
	}
	subj := dlqSubject(topic, subscription)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, fmt.Errorf("dead-lettered of %q subscription %q: stream info: %w", topic, subscription, err)
	}
	return int64(info.State.Subjects[subj]), nil
}

// settle applies the Handler's disposition d.Disposition of msg, a delivery
// of partition p (d.DeliveryCount is 0 when the metadata was unreadable; the
// limit check then lets JetStream enforce MaxDeliver alone).
func (c *consumer) settle(p int32, msg jetstream.Msg, d *adapters.Delivery) error {
	switch d.Disposition {
	case adapters.Release:
		if c.limit <= 0 || d.DeliveryCount < c.limit {
			return msg.Nak()
		}
		return c.deadLetter(p, msg, d.DeliveryCount)
	case adapters.Reject:
		return c.deadLetter(p, msg, d.DeliveryCount)
	}
	if c.cumulative {
		return nil // the partition loop acks cumulatively (group.go)
	}
	if c.sync {
		return msg.DoubleAck(c.ctx)
	}
	return msg.Ack()
}

// deadLetter copies msg to the dead-letter subject (when the topic has one)
// and then Terms it, so that JetStream never delivers it again. When the copy
// fails the message is left unacknowledged: it is redelivered after AckWait,
// or, at MaxDeliver, dead-lettered through the advisory.
func (c *consumer) deadLetter(p int32, msg jetstream.Msg, deliveries int) error {
	if c.dlqSubj != "" {
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("dead-letter partition %d: %w", p, err)
		}
		if err := c.copyToDLQ(p, md.Sequence.Stream, msg.Headers(), msg.Data(), deliveries); err != nil {
			return err
		}
	}
	if err := msg.Term(); err != nil {
		return fmt.Errorf("term partition %d: %w", p, err)
	}
	return nil
}

// copyToDLQ publishes one message to the dead-letter subject and waits for
// the stream's ack. The Nats-Msg-Id makes repeated copies of the same
// message (same durable, same stream sequence) one.
func (c *consumer) copyToDLQ(p int32, seq uint64, h natsgo.Header, data []byte, deliveries int) error {
	m := natsgo.NewMsg(c.dlqSubj)
	m.Data = data
	if k := h.Get(keyHeader); k != "" {
		m.Header.Set(keyHeader, k)
	}
	m.Header.Set(dlqPartitionHeader, strconv.Itoa(int(p)))
	m.Header.Set(dlqSequenceHeader, strconv.FormatUint(seq, 10))
	m.Header.Set(dlqDeliveriesHeader, strconv.Itoa(deliveries))
	id := durableName(c.cfg.Subscription, int(p)) + ":" + strconv.FormatUint(seq, 10)
	ctx, cancel := context.WithTimeout(c.ctx, c.flushTimeout)
	defer cancel()
	if _, err := c.js.PublishMsg(ctx, m, jetstream.WithMsgID(id), jetstream.WithExpectStream(dlqStreamName(c.cfg.Topic))); err != nil {
		return fmt.Errorf("dead-letter partition %d sequence %d: %w", p, seq, err)
	}
	return nil
}

// maxDeliveriesAdvisory is the part of JetStream's
// io.nats.jetstream.advisory.v1.max_deliver event the adapter reads.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries int    `json:"deliveries"`
}

// listenMaxDeliveries subscribes, on this consumer's connection, to the
// max-deliveries advisories of the subscription's durables, so that a
// message whose last delivery went unsettled is still dead-lettered. Only
// needed with both a delivery limit and a dead-letter subject.
func (c *consumer) listenMaxDeliveries() error {
	if c.limit <= 0 || c.dlqSubj == "" {
		return nil
	}
	stream := streamName(c.cfg.Topic)
	for p := range c.parts {
		subj := "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + "." + durableName(c.cfg.Subscription, p)
		if _, err := c.nc.Subscribe(subj, c.onMaxDeliveries(int32(p))); err != nil {
			return fmt.Errorf("subscribe to %s: %w", subj, err)
		}
	}
	return nil
}

// onMaxDeliveries handles an advisory of partition p's durable: it reads the
// abandoned message from the stream and copies it to the dead-letter subject.
// It runs on the subscription's goroutine, not a Handler goroutine.
func (c *consumer) onMaxDeliveries(p int32) natsgo.MsgHandler {
	return func(am *natsgo.Msg) {
		if c.crashed.Load() {
			return
		}
		var adv maxDeliveriesAdvisory
		if err := json.Unmarshal(am.Data, &adv); err != nil {
			c.onConsumeErr(nil, fmt.Errorf("max-deliveries advisory of partition %d: %w", p, err))
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.flushTimeout)
		defer cancel()
		raw, err := c.stream.GetMsg(ctx, adv.StreamSeq)
		if err != nil {
			c.onConsumeErr(nil, fmt.Errorf("max-deliveries advisory of partition %d: get sequence %d: %w", p, adv.StreamSeq, err))
			return
		}
		if err := c.copyToDLQ(p, adv.StreamSeq, raw.Header, raw.Data, adv.Deliveries); err != nil {
			c.onConsumeErr(nil, fmt.Errorf("max-deliveries advisory: %w", err))
		}
	}
}
