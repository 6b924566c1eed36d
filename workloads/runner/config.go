package runner

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
)

func newLatency() *metrics.Latency { return metrics.NewLatency() }

// newEndToEnd is a consumer's group of end-to-end kinds, indexed from
// kindEndToEnd.
func newEndToEnd() *metrics.Group { return metrics.NewGroup(kinds - kindEndToEnd) }

// Applicable returns why w cannot run on a system with caps, or "" when it
// can. A workload is never silently skipped: the reason lands in the
// result.
func Applicable(w workloads.Workload, caps adapters.Capabilities) string {
	var why []string
	if w.PartitionsPerTopic > 1 && !caps.Partitions {
		why = append(why, fmt.Sprintf("needs partitions (partitionsPerTopic=%d)", w.PartitionsPerTopic))
	}
	if w.ConsumerPerSubscription > 1 && !caps.ConsumerGroups {
		why = append(why, fmt.Sprintf("needs consumer groups (consumerPerSubscription=%d)", w.ConsumerPerSubscription))
	}
	if w.Queue != nil && !caps.Queue {
		why = append(why, "needs queue semantics (release, reject, delivery counts)")
	}
	if w.Churn != nil {
		if !caps.ConsumerGroups {
			why = append(why, "consumer churn needs consumer groups")
		}
		if w.Churn.Membership == "static" && !caps.StaticMembership {
			why = append(why, "static membership is not supported")
		}
	}
	return strings.Join(why, "; ")
}

// producerConfig is the adapter configuration of producer id on topic at
// rate msg/s (0 for max rate).
func (r *run) producerConfig(id uint32, topic string, rate float64) adapters.ProducerConfig {
	d := r.w.Delivery
	return adapters.ProducerConfig{
		ID:          fmt.Sprintf("%s-p%d", topic, id),
		Acks:        parseAcks(d.Acks),
		Idempotent:  d.IdempotentOrDefault() && r.caps.Idempotence,
		Linger:      d.Linger,
		BatchBytes:  d.BatchBytes,
		Compression: d.Compression,
		MaxInFlight: d.MaxInFlight,
		Rate:        rate,
		// An explicit "idempotent: true", not the default of acks=all.
		IdempotenceRequested: r.w.IdempotenceRequested() && r.caps.Idempotence,
	}
}

func (r *run) newProducer(ctx context.Context, id uint32, topicIdx int, topic string, rate float64) (*producer, error) {
	cfg := r.producerConfig(id, topic, rate)
	p, err := r.sys.NewProducer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create producer %s: %w", cfg.ID, err)
	}
	seed := r.r.seed + uint64(id)
	pr := &producer{
		run: r, id: id, topic: topic, topicIdx: topicIdx,
		partitions: r.w.PartitionsPerTopic, rate: rate, cfg: cfg,
		keys:    r.w.KeyDistributor.NewChooser(int64(seed)),
		latency: metrics.NewGroup(kindPublishDelay + 1),
	}
	pr.client.Store(&producerClient{Producer: p, proc: r.hist.newProcess()})
	return pr, nil
}

func maxDeliveries(q *workloads.Queue) int {
	if q == nil {
		return 0
	}
	return q.MaxDeliveries
}

func parseAcks(s string) adapters.Acks {
	switch s {
	case "0":
		return adapters.AcksNone
	case "1":
		return adapters.AcksLeader
	default:
		return adapters.AcksAll
	}
}

func (r *run) consumerConfig(c *consumer) adapters.ConsumerConfig {
	d := r.w.Delivery
	proc := c.proc // this incarnation's: a late callback must not use the next one's
	start := adapters.StartEarliest
	if d.StartFrom == "latest" {
		start = adapters.StartLatest
	}
	return adapters.ConsumerConfig{
		ID:             c.id,
		Topic:          r.topics[c.sub.topicIdx].name,
		Partitions:     r.w.PartitionsPerTopic,
		Subscription:   c.sub.name,
		InstanceID:     c.instanceID,
		Assignor:       adapters.Assignor(d.Assignor),
		SessionTimeout: d.SessionTimeout,
		Start:          start,
		Commit:         adapters.CommitMode(d.CommitMode),
		CommitInterval: d.CommitInterval,
		Prefetch:       d.Prefetch,
		Queue:          r.w.Queue != nil,
		MaxDeliveries:  maxDeliveries(r.w.Queue),
		Handler:        func(d *adapters.Delivery) { c.handle(proc, d) },
		OnGeneration:   func(gen int32) { c.generation.Store(gen) },
		OnAssigned: func(ps []int32) {
			if len(ps) > 0 {
				r.addEvent(results.Event{Kind: "assigned", Consumer: c.id, Partitions: ps, Generation: c.generation.Load()})
				c.reassign(r, ps, true)
			}
		},
		OnRevoked: func(ps []int32) {
			if len(ps) > 0 {
				r.event("revoked", c.id, ps, "")
				c.reassign(r, ps, false)
			}
		},
		OnCommitted: func(offsets map[int32]int64) {
			c.sub.hist.committed(proc, c.sub.name, r.topics[c.sub.topicIdx].keys, offsets)
		},
		OnAcked: c.sub.onAcked(proc), // see acks.go
	}
}

// payloads returns the fixed payload copied into every message buffer once,
// or, for randomized payloads, a pool to copy from per message. The first
// HeaderSize bytes of every message are the header, so payloads fill the
// rest: messages are exactly MessageSize bytes on the wire.
func (r *run) payloads() (fixed []byte, pool [][]byte, err error) {
	w := r.w
	body := w.MessageSize - HeaderSize
	rnd := rand.New(rand.NewPCG(r.r.seed, 0x7061796c))
	if w.PayloadFile != "" {
		data, err := os.ReadFile(w.PayloadFile)
		if err != nil {
			return nil, nil, fmt.Errorf("read payload file: %w", err)
		}
		fixed = make([]byte, body)
		for i := 0; len(data) > 0 && i < body; i += len(data) {
			copy(fixed[i:], data)
		}
		return fixed, nil, nil
	}
	if !w.UseRandomizedPayloads {
		// Random bytes, so that compression and deduplicating storage
		// cannot flatter a system.
		fixed = make([]byte, body)
		fillRandom(rnd, fixed)
		return fixed, nil, nil
	}
	pool = make([][]byte, w.RandomizedPayloadPoolSize)
	randomLen := int(float64(body) * w.RandomBytesRatio)
	for i := range pool {
		pool[i] = make([]byte, body)
		fillRandom(rnd, pool[i][:randomLen])
	}
	return nil, pool, nil
}

func fillRandom(rnd *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
}
