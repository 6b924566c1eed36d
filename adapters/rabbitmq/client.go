package rabbitmq

import (
	"fmt"
	"math"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// The adapter's client defaults. Each is used by the code that opens
// producers and consumers and by ClientSettings, which reports them with
// their reasons; docs/adapters/rabbitmq.md has the same table with sources.
const (
	// DefaultMaxInFlight bounds unconfirmed sends per producer when
	// ProducerConfig.MaxInFlight is 0 (the workloads' default too).
	DefaultMaxInFlight = adapters.DefaultMaxInFlight
	// DefaultConfirmWindow caps the unconfirmed sends on one channel.
	// Measured with BenchmarkConfirmWindow (one channel at maximum rate,
	// 1 KiB persistent messages): beyond about 256 the confirm latency
	// grows with the window while the rate does not (quorum: 256 gave
	// 20,300 msg/s at p50 8.8 ms, 1000 gave 10,300 msg/s at p50 60 ms).
	DefaultConfirmWindow = 256
	// DefaultPrefetch is the basic.qos prefetch count per partition queue
	// when ConsumerConfig.Prefetch is 0. RabbitMQ applies a non-global qos
	// per consumer, and each partition has its own consumer, so a consumer
	// holds at most Prefetch unacknowledged deliveries per assigned
	// partition. RabbitMQ's guide: 100 to 300 usually gives the best
	// throughput without overwhelming consumers.
	DefaultPrefetch = 256
	// channelRate is the rate one publishing channel is planned for: half
	// of what one channel confirmed at maximum rate on the development
	// machine (about 20,000 msg/s, quorum), so that a channel is not what
	// limits a producer with a target rate.
	channelRate = 10_000
	// maxProducerChannels is the number of channels a producer at maximum
	// rate (Rate 0) uses, and the most any producer uses: partitions are
	// spread over them (p mod channels), so more channels only help
	// topics with as many partitions.
	maxProducerChannels = 4
	// channelsPerConnection: a connection's frames are parsed by one
	// reader process on the broker and written by one socket in the
	// client; two channels share one before another connection opens.
	channelsPerConnection = 2
)

// producerPlan is how a producer drives RabbitMQ.
type producerPlan struct {
	Channels    int // publishing channels, partition p on channel p mod Channels
	Connections int // connections the channels are spread over
	Window      int // unconfirmed sends per channel
	MaxInFlight int // unconfirmed sends of the whole producer
}

// planProducer sizes a producer for cfg: channels for its target rate
// (maxProducerChannels at maximum rate), connections for the channels, and
// a confirm window per channel that keeps the producer within MaxInFlight
// and each channel within DefaultConfirmWindow.
func planProducer(cfg adapters.ProducerConfig) (producerPlan, error) {
	if cfg.MaxInFlight < 0 {
		return producerPlan{}, fmt.Errorf("MaxInFlight %d is negative", cfg.MaxInFlight)
	}
	if cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) {
		return producerPlan{}, fmt.Errorf("producer rate %v must be 0 (maximum) or a positive rate", cfg.Rate)
	}
	pl := producerPlan{Channels: maxProducerChannels, MaxInFlight: cfg.MaxInFlight}
	if pl.MaxInFlight == 0 {
		pl.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Rate > 0 {
		pl.Channels = int(min(maxProducerChannels, math.Ceil(cfg.Rate/channelRate)))
	}
	// Every channel gets at least one unconfirmed send.
	pl.Channels = min(pl.Channels, pl.MaxInFlight)
	pl.Connections = (pl.Channels + channelsPerConnection - 1) / channelsPerConnection
	pl.Window = min(DefaultConfirmWindow, pl.MaxInFlight/pl.Channels)
	return pl, nil
}

// consumerPlan is how a consumer acknowledges.
type consumerPlan struct {
	Prefetch int                 // basic.qos per partition channel
	Commit   adapters.CommitMode // auto (autoAck), interval or sync
	Interval time.Duration       // multiple-ack period in interval mode
	AckEvery int                 // handled deliveries that force a multiple-ack
}

// planConsumer fills in cfg's acknowledgement defaults and says when acks
// are sent: every Interval, or once AckEvery deliveries are handled, half
// the prefetch window, since the broker stops delivering once the window
// is full of unacknowledged messages.
func planConsumer(cfg adapters.ConsumerConfig) (consumerPlan, error) {
	pl := consumerPlan{Prefetch: cfg.Prefetch, Commit: cfg.Commit, Interval: cfg.CommitInterval}
	switch pl.Commit {
	case "":
		pl.Commit = adapters.CommitInterval
	case adapters.CommitAuto, adapters.CommitInterval, adapters.CommitSync:
	default:
		return pl, fmt.Errorf("commit mode %q is not auto, interval or sync", cfg.Commit)
	}
	if pl.Interval < 0 || pl.Prefetch < 0 {
		return pl, fmt.Errorf("CommitInterval %v and Prefetch %d must not be negative", cfg.CommitInterval, cfg.Prefetch)
	}
	if pl.Interval == 0 {
		pl.Interval = time.Second
	}
	if pl.Prefetch == 0 {
		pl.Prefetch = DefaultPrefetch
	}
	if pl.Prefetch > 65535 {
		return pl, fmt.Errorf("ConsumerConfig.Prefetch %d exceeds AMQP's limit of 65535", cfg.Prefetch)
	}
	pl.AckEvery = max(1, pl.Prefetch/2)
	if pl.Commit == adapters.CommitSync {
		pl.AckEvery = 1
	}
	return pl, nil
}

var _ adapters.ClientReporter = (*RabbitMQ)(nil)

// ClientSettings reports how producers and consumers made with p and c
// drive RabbitMQ, from the same plans NewProducer and NewConsumer use.
// Configs that NewProducer or NewConsumer would refuse are reported as
// such.
func (r *RabbitMQ) ClientSettings(p adapters.ProducerConfig, c adapters.ConsumerConfig) []adapters.ClientSetting {
	var out []adapters.ClientSetting
	add := func(name, value, reason string) {
		out = append(out, adapters.ClientSetting{Name: name, Value: value, Reason: reason})
	}
	qt, qtWhy := "by the workload's durability: classic for memory and async-disk, quorum otherwise",
		"classic queues give the weaker levels without Raft's cost; quorum queues fsync on a quorum (docs/adapters/rabbitmq.md, Durability)"
	if r.cfg.QueueType != "" {
		qt, qtWhy = string(r.cfg.QueueType), ""
	}
	add("queue type", qt, qtWhy)
	// An empty ID is a run without producers (or consumers).
	if p.ID != "" {
		if pp, err := planProducer(p); err != nil {
			add("producer", "invalid", err.Error())
		} else {
			r.producerSettings(add, p, pp)
		}
	}
	if c.ID != "" {
		if cp, err := planConsumer(c); err != nil {
			add("consumer", "invalid", err.Error())
		} else {
			consumerSettings(add, c, cp)
		}
	}
	return out
}

// producerSettings reports a producer plan.
func (r *RabbitMQ) producerSettings(add func(name, value, reason string), p adapters.ProducerConfig, pl producerPlan) {
	why := fmt.Sprintf("maximum rate: %d channels, the most a producer uses; a channel is serialised in the client and on the broker (PerfTest: a channel per producer thread)", maxProducerChannels)
	if p.Rate > 0 {
		why = fmt.Sprintf("target %.0f msg/s at up to %d msg/s per channel (half of one channel's measured maximum), at most %d", p.Rate, channelRate, maxProducerChannels)
	}
	add("producer channels", fmt.Sprintf("%d (partition p on channel p mod %d, so each partition keeps its order)", pl.Channels, pl.Channels), why)
	add("producer connections", fmt.Sprint(pl.Connections),
		fmt.Sprintf("%d channels per connection: one connection is one reader process on the broker and one socket in the client", channelsPerConnection))
	inflightWhy := ""
	if p.MaxInFlight == 0 {
		inflightWhy = "adapter default"
	}
	add("unconfirmed sends per producer", fmt.Sprint(pl.MaxInFlight), inflightWhy)
	if p.Acks == adapters.AcksNone {
		add("publisher confirms", "off (acks=0): a send completes once written", "")
	} else {
		add("publisher confirms", fmt.Sprintf("on, window %d per channel", pl.Window),
			fmt.Sprintf("at most %d per channel: a larger window raised confirm latency without raising the rate (BenchmarkConfirmWindow)", DefaultConfirmWindow))
	}
	add("publish", "mandatory, persistent unless the durability level is memory",
		"mandatory: an unroutable message fails its own send instead of vanishing")
}

// consumerSettings reports a consumer plan.
func consumerSettings(add func(name, value, reason string), c adapters.ConsumerConfig, pl consumerPlan) {
	add("consumer connections", "1 per consumer, a channel per assigned partition",
		"a multiple-ack then covers one partition, and closing a channel requeues exactly that partition's deliveries")
	prefetchWhy := ""
	if c.Prefetch == 0 {
		prefetchWhy = "RabbitMQ's consumer acknowledgement guide: 100 to 300 usually gives the best throughput"
	}
	add("prefetch (basic.qos per partition)", fmt.Sprint(pl.Prefetch), prefetchWhy)
	switch pl.Commit {
	case adapters.CommitAuto:
		add("acknowledgement", "automatic (no-ack consume)", "")
	case adapters.CommitSync:
		add("acknowledgement", "basic.ack per delivery", "")
	default:
		add("acknowledgement", fmt.Sprintf("multiple basic.ack every %v or every %d handled deliveries per partition, whichever comes first", pl.Interval, pl.AckEvery),
			fmt.Sprintf("the broker stops delivering when %d are unacked, so acks cannot wait for the commit interval above %.0f msg/s per partition: acks are then more frequent than commitInterval %v",
				pl.Prefetch, float64(pl.AckEvery)/pl.Interval.Seconds(), pl.Interval))
	}
}
