package redis

// How producers and consumers drive Redis: every default is decided here,
// once, and used both by NewProducer/NewConsumer and by ClientSettings,
// so the report says what was done (docs/adapters/redis.md, "Defaults").

import (
	"fmt"
	"strconv"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

var _ adapters.ClientReporter = (*Redis)(nil)

// producerSizing is how a producer made with a ProducerConfig sends.
type producerSizing struct {
	inflight int // outstanding sends (queued plus in the pipeline)
	pipeline int // XADDs per pipeline (one round trip) at most
	linger   time.Duration
	// waitReplicas > 0: each pipeline ends with WAIT waitReplicas
	// waitTimeout (durability replicated, acks=all, replicas connected).
	waitReplicas int
	waitTimeout  time.Duration
}

func (r *Redis) producerSizing(cfg adapters.ProducerConfig) producerSizing {
	s := producerSizing{inflight: cfg.MaxInFlight, linger: max(cfg.Linger, 0), waitTimeout: r.cfg.WaitTimeout}
	if s.inflight <= 0 {
		s.inflight = DefaultMaxInFlight
	}
	// A pipeline never holds more than the sends allowed in flight, so
	// with a closed loop the whole window goes out in one round trip.
	s.pipeline = min(s.inflight, maxPipeline)
	if cfg.Acks == adapters.AcksAll {
		r.mu.Lock()
		s.waitReplicas = r.waitReplicas
		r.mu.Unlock()
	}
	return s
}

// consumerSizing is how a consumer made with a ConsumerConfig reads and
// acknowledges.
type consumerSizing struct {
	prefetch int // ConsumerConfig.Prefetch; 0: DefaultCountPerPartition per stream
	block    time.Duration
	session  time.Duration // XAUTOCLAIM min-idle of the idle takeover
	claimGap time.Duration // time between idle-takeover passes
	interval time.Duration // XACK period; 0: after every batch (CommitSync)
	noAck    bool          // CommitAuto: XREADGROUP ... NOACK
}

func (r *Redis) consumerSizing(cfg adapters.ConsumerConfig) consumerSizing {
	s := consumerSizing{prefetch: max(cfg.Prefetch, 0), block: r.cfg.Block, session: cfg.SessionTimeout}
	if s.session <= 0 {
		s.session = DefaultSessionTimeout
	}
	s.claimGap = min(max(s.session/4, 50*time.Millisecond), 5*time.Second)
	s.noAck = cfg.Commit == adapters.CommitAuto
	if cfg.Commit == "" || cfg.Commit == adapters.CommitInterval {
		s.interval = cfg.CommitInterval
		if s.interval <= 0 {
			s.interval = DefaultCommitInterval
		}
	}
	return s
}

// count is the XREADGROUP COUNT per stream for a member owning owned
// partition streams: DefaultCountPerPartition, or an explicit Prefetch
// split over the owned streams (COUNT applies per stream), so one read
// returns at most about Prefetch entries.
func (s consumerSizing) count(owned int) int64 {
	if s.prefetch == 0 {
		return DefaultCountPerPartition
	}
	owned = max(owned, 1)
	return int64(max(1, (s.prefetch+owned-1)/owned))
}

// trim is how XADD trims a topic's partition streams: MAXLEN ~ maxLen
// (the smaller of the workload's retention and Config.MaxLen) or MINID ~
// now-maxAge (Config.MaxAge); neither by default.
type trim struct {
	maxLen int64
	maxAge time.Duration
}

func (r *Redis) trimFor(m topicMeta) trim {
	t := trim{maxLen: m.maxLen, maxAge: r.cfg.MaxAge}
	if c := r.cfg.MaxLen; c > 0 && (t.maxLen == 0 || c < t.maxLen) {
		t.maxLen = c
	}
	return t
}

func (t trim) String() string {
	switch {
	case t.maxAge > 0:
		return "MINID ~ <now - " + t.maxAge.String() + ">"
	case t.maxLen > 0:
		return "MAXLEN ~ " + strconv.FormatInt(t.maxLen, 10)
	}
	return "none"
}

// ClientSettings implements adapters.ClientReporter: how producers made
// with p and consumers made with c drive Redis, with the reason for each
// default (docs/adapters/redis.md, "Defaults").
func (r *Redis) ClientSettings(p adapters.ProducerConfig, c adapters.ConsumerConfig) []adapters.ClientSetting {
	ps, cs := r.producerSizing(p), r.consumerSizing(c)
	var out []adapters.ClientSetting
	if p.ID != "" {
		out = append(out, r.producerSettings(p, ps)...)
	}
	if c.ID != "" {
		out = append(out, consumerSettings(c, cs)...)
	}
	return out
}

func setting(name, value, reason string) adapters.ClientSetting {
	return adapters.ClientSetting{Name: name, Value: value, Reason: reason}
}

// unlessSet is reason, or none when the workload set the value itself.
func unlessSet(workloadSet bool, reason string) string {
	if workloadSet {
		return ""
	}
	return reason
}

// producerSettings are the settings of producers made with p.
func (r *Redis) producerSettings(p adapters.ProducerConfig, ps producerSizing) []adapters.ClientSetting {
	out := []adapters.ClientSetting{
		setting("producer connections", "1 per producer, one XADD pipeline in flight",
			"one connection keeps a producer's entries in Send order; pipelining, not more connections, is what Redis docs recommend for throughput (redis.io/docs/manual/pipelining)"),
		setting("XADD pipeline", fmt.Sprintf("up to %d XADDs per round trip, sized by the load", ps.pipeline),
			"sends queued while a pipeline is in flight form the next one (batches grow with load, like Nagle), capped at min(MaxInFlight, 1000)"),
		setting("MaxInFlight", strconv.Itoa(ps.inflight), unlessSet(p.MaxInFlight > 0,
			"default 1000: a full pipeline per round trip at max rate")),
	}
	if ps.linger > 0 {
		out = append(out, setting("pipeline linger", ps.linger.String(), ""))
	}
	trimming := "none"
	if r.cfg.MaxLen > 0 || r.cfg.MaxAge > 0 {
		trimming = r.trimFor(topicMeta{}).String()
	}
	out = append(out, setting("XADD trimming", trimming+" (plus MAXLEN ~ from the workload's retention, if any)",
		"off by default: trimming drops entries whether or not consumed; ~ lets Redis trim whole radix-tree nodes, cheap (redis.io XADD docs)"))
	if ps.waitReplicas > 0 {
		out = append(out, setting("WAIT", fmt.Sprintf("WAIT %d %d after each pipeline", ps.waitReplicas, ps.waitTimeout.Milliseconds()),
			"durability replicated: a send completes once a majority of master and replicas hold it (redis.io WAIT docs)"))
	} else {
		out = append(out, setting("WAIT", "none", "replication is asynchronous; WAIT is used only for durability: replicated with acks=all and replicas connected"))
	}
	return out
}

// consumerSettings are the settings of consumers made with c.
func consumerSettings(c adapters.ConsumerConfig, cs consumerSizing) []adapters.ClientSetting {
	var out []adapters.ClientSetting
	countValue := fmt.Sprintf("%d per partition stream", DefaultCountPerPartition)
	if cs.prefetch > 0 {
		countValue = fmt.Sprintf("ceil(%d / owned partitions) per stream (%d with all %d)", cs.prefetch, cs.count(max(c.Partitions, 1)), max(c.Partitions, 1))
	}
	out = append(out,
		setting("XREADGROUP COUNT", countValue, unlessSet(cs.prefetch > 0,
			"per stream, so each owned partition returns a full batch per round trip whatever the partition count")),
		setting("XREADGROUP BLOCK", cs.block.String(),
			"a blocked read returns as soon as an entry arrives, so BLOCK adds no latency; it bounds how long Close waits"),
		setting("consumer loop", "one connection and read loop per group member, over the partitions it owns; handlers run on the loop",
			"one member per partition keeps each partition in order; members (consumerPerSubscription) read and handle in parallel"),
	)
	switch {
	case cs.noAck:
		out = append(out, setting("XACK", "none: XREADGROUP ... NOACK", "commit mode auto: entries are never pending"))
	case cs.interval > 0:
		out = append(out, setting("XACK", fmt.Sprintf("one pipelined XACK per owned partition every %s", cs.interval), unlessSet(c.CommitInterval > 0,
			"the workload's commit cadence (delivery.commitInterval, default 1s), as Kafka commits")))
	default:
		out = append(out, setting("XACK", "one pipelined XACK per owned partition after every batch", "commit mode sync"))
	}
	out = append(out, setting("idle takeover", fmt.Sprintf("XAUTOCLAIM min-idle %s every %s", cs.session, cs.claimGap), unlessSet(c.SessionTimeout > 0,
		"the session timeout (default 30s): a dead member's pending entries move on, a live member's are not stolen")))
	return out
}
