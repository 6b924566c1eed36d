// Package workloads parses, validates and expands workload specifications:
// what a benchmark run does to a message system, independent of the system.
//
// A [File] holds one or more [Workload] values, read by [Load] or [Parse]
// from either of two YAML shapes:
//
//   - an OpenMessaging Benchmark (OMB) workload file: one workload whose keys
//     (name, topics, partitionsPerTopic, ...) sit at the top level. Unmodified
//     OMB files load, and OMB keys keep OMB's meaning and units;
//   - a brokerbench file: a top-level "workloads:" list of named workloads,
//     plus an optional "defaults:" mapping merged into each.
//
// Beyond OMB, a workload may give durations with units (duration, warmup),
// key distributions with skew ([KeyDistribution]: ZIPF, HOT_KEY, UNIFORM),
// producer and consumer settings ([Delivery]), consumer churn ([Churn]), and
// list values that [Workload.Expand] turns into a sweep of concrete runs.
//
// Errors name the file, line, workload and key, and say how to fix the
// value; see [FieldError]. The full key reference is docs/workloads.md.
//
// [KeyDistribution.NewChooser] returns the per-message [KeyChooser] the
// runner uses to pick message keys.
package workloads

import (
	"strings"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/chaos"
)

// Size limits on message payloads, in bytes.
const (
	// MinMessageSize is the smallest messageSize accepted: the runner
	// prefixes every payload with a 32-byte header (producer id, sequence
	// number, intended and actual send time), so a smaller message could not
	// carry it.
	MinMessageSize = 32
	// MaxMessageSize is the largest messageSize accepted (64 MiB). It exists
	// to catch typos such as a size in bits or an extra zero before the
	// runner tries to allocate pools of such payloads.
	MaxMessageSize = 64 << 20
	// MaxRuns is the largest number of concrete runs one workload's sweep may
	// expand into; a bigger cartesian product is almost certainly a mistake.
	MaxRuns = 1024
)

// Default values applied by [Workload.Default] and by the parser before a
// workload's keys are read. OMB's defaults are used where OMB has one.
const (
	DefaultTopics                  = 1
	DefaultPartitionsPerTopic      = 1
	DefaultMessageSize             = 1024 // bytes
	DefaultSubscriptionsPerTopic   = 1
	DefaultConsumerPerSubscription = 1
	DefaultProducersPerTopic       = 1
	DefaultRandomizedPayloadPool   = 1000
	DefaultBacklogDrainRatio       = 1.0 // OMB's default: drain the backlog fully
	DefaultWarmupDuration          = time.Minute
	DefaultTestDuration            = time.Minute
	DefaultMaxInFlight             = adapters.DefaultMaxInFlight
	DefaultCommitInterval          = time.Second
	// DefaultKeys is the key-space size of ZIPF, HOT_KEY and UNIFORM.
	DefaultKeys = 1000
	// DefaultOMBKeys is the key-space size of KEY_ROUND_ROBIN and
	// RANDOM_NANO: OMB pre-generates 10,000 keys for them.
	DefaultOMBKeys      = 10000
	DefaultZipfExponent = 1.1
	DefaultHotShare     = 0.8
)

// Key distribution kinds; see [KeyDistribution.Kind].
const (
	KeyNone       = "NO_KEY"          // OMB: no key; the system spreads messages itself
	KeyRandomNano = "RANDOM_NANO"     // OMB: a random key from the key space per message
	KeyRoundRobin = "KEY_ROUND_ROBIN" // OMB: cycle through the key space in order
	KeyZipf       = "ZIPF"            // ours: Zipf over Keys with Exponent
	KeyHot        = "HOT_KEY"         // ours: HotShare of traffic on key 0, the rest uniform
	KeyUniform    = "UNIFORM"         // ours: uniform over Keys
)

// File is a parsed workloads file.
type File struct {
	Path      string     // path as given to Load or Parse
	Workloads []Workload // in file order, unexpanded; call Expand for runs
}

// Find returns the workload with the given name. A name with a sweep suffix,
// such as "throughput-per-partition[partitionsPerTopic=4]", finds that one
// concrete run from the workload's Expand.
func (f *File) Find(name string) (*Workload, bool) {
	for i := range f.Workloads {
		if f.Workloads[i].Name == name {
			return &f.Workloads[i], true
		}
	}
	base, _, ok := strings.Cut(name, "[")
	if !ok {
		return nil, false
	}
	for i := range f.Workloads {
		if f.Workloads[i].Name != base {
			continue
		}
		for _, run := range f.Workloads[i].Expand() {
			if run.Name == name {
				return &run, true
			}
		}
	}
	return nil, false
}

// Names returns the workload names in file order.
func (f *File) Names() []string {
	names := make([]string, len(f.Workloads))
	for i, w := range f.Workloads {
		names[i] = w.Name
	}
	return names
}

// Workload is one workload: what to create, how to produce and consume, and
// for how long. A Workload is a plain value; it is not safe to mutate from
// several goroutines, but Expand and Validate only read it.
//
// Fields marked OMB keep OMB's key name and meaning. The zero value is not
// runnable: call Default to fill unset fields, or use Load.
type Workload struct {
	Name        string
	Description string
	// Sweep is set by Expand on each concrete run: swept key → value as
	// written, e.g. {"partitionsPerTopic": "4"}. Nil on unexpanded specs.
	Sweep map[string]string
	// SweepKeys lists the swept keys in expansion order (the first varies
	// slowest), so reports can order columns. Set on specs and runs.
	SweepKeys []string

	Topics                    int     // OMB; default 1
	PartitionsPerTopic        int     // OMB; default 1
	MessageSize               int     // OMB; bytes, MinMessageSize..MaxMessageSize, default 1024
	PayloadFile               string  // OMB; after Load either a path that existed at load time or "" (see Warnings)
	UseRandomizedPayloads     bool    // OMB
	RandomBytesRatio          float64 // OMB; share of random bytes in each randomized payload, [0,1]
	RandomizedPayloadPoolSize int     // OMB; distinct randomized payloads, default 1000
	SubscriptionsPerTopic     int     // OMB; default 1; 0 = produce only
	ConsumerPerSubscription   int     // OMB; consumers in each subscription, default 1
	ProducersPerTopic         int     // OMB; default 1
	// ProducerRate is OMB's aggregate rate in messages per second over all
	// producers of all topics; 0 = closed loop at the maximum rate.
	ProducerRate   float64
	KeyDistributor KeyDistribution // OMB (plain string) or ours (mapping)
	// ConsumerBacklogSizeGB is OMB's backlog to build before consumers start,
	// in GiB (2^30 bytes) over all topics; fractional values are ours.
	ConsumerBacklogSizeGB float64
	// BacklogDrainRatio is OMB's share of the backlog that must be drained
	// before the run may end, [0,1], default 1.
	BacklogDrainRatio float64
	// PauseProducersDuringDrain (ours) stops the producers once the
	// backlog is built and resumes them when it is drained, so the drain
	// measures catch-up reads alone, as a client reading a backlog would.
	PauseProducersDuringDrain bool
	WarmupDuration            time.Duration // warmupDurationMinutes (OMB) or warmup: "30s"; default 1m
	TestDuration              time.Duration // testDurationMinutes (OMB) or duration: "30s"; default 1m

	Delivery Delivery // producer and consumer settings
	Churn    *Churn   // consumer churn for rebalance storms; nil = none
	Queue    *Queue   // queue semantics (ack, release, reject, dead letters); nil = log consumption
	// MaxRate makes the run a saturation search for the highest rate that
	// meets a latency objective (docs/capacity.md); nil = one run at
	// ProducerRate.
	MaxRate *MaxRate
	// Chaos is the fault schedule run during the measured phase (package
	// chaos); nil = no faults. Runs with faults always record a history.
	Chaos *chaos.Spec
	// Systems optionally restricts the systems this workload is meant for
	// (kafka, refbroker, rabbitmq, redis, nats); empty = all.
	Systems []string
	// Report lists the figures that matter for this workload, as hints for
	// reports; see ReportHints for the accepted values.
	Report []string
	// History makes every run of the workload record its history and
	// check it (as `run --history` does for all workloads).
	History bool
	// Guarantee is the delivery guarantee the run's history is checked
	// against: at-least-once (default), exactly-once or at-most-once.
	Guarantee string
	// Durability is the level acknowledged messages must have (memory,
	// async-disk, sync-disk, replicated; see adapters.Durability); ""
	// keeps each system's default. Adapters apply it where they can and
	// results record what the server actually gave.
	Durability string
	// DurabilityRequired makes a system that cannot reach Durability
	// not-applicable instead of running at a weaker level.
	DurabilityRequired bool
	// Thresholds are pass conditions on result figures for `run --gate`,
	// metric name to "op number" (see package gate), e.g. {"lost": "== 0"}.
	Thresholds map[string]string
	// Warnings holds non-fatal notes from loading (missing payloadFile, ...).
	Warnings []string
	// Line is the line of the workload in its file (0 if built in code).
	Line int

	spec *specInfo // parse-time positions and sweep axes; nil if built in code
}

// KeyDistribution says how message keys are chosen. OMB files give it as a
// plain string (NO_KEY, RANDOM_NANO, KEY_ROUND_ROBIN); ours may also give a
// mapping {type: ZIPF, keys: 10000, exponent: 1.2}.
type KeyDistribution struct {
	Kind     string  // one of the Key* constants; default NO_KEY
	Keys     int     // key-space size; default DefaultKeys, or DefaultOMBKeys for OMB kinds
	Exponent float64 // ZIPF only: s > 1, default 1.1
	HotShare float64 // HOT_KEY only: share of messages on key 0, (0,1), default 0.8
}

// Delivery holds producer and consumer settings. Zero values mean the
// adapter's default where noted.
type Delivery struct {
	Acks       string // "all" (default), "1", "0"; "-1" is read as "all"
	Idempotent *bool  // default true when Acks is "all", else false; true needs acks all
	// idempotentDefaulted says Idempotent was filled in from Acks
	// (fillIdempotent), not set by the workload: see IdempotenceRequested.
	idempotentDefaulted bool
	Linger              time.Duration // producer batching delay; 0 = adapter default
	BatchBytes          int           // producer batch size in bytes; 0 = adapter default
	Compression         string        // none (default) | gzip | snappy | lz4 | zstd
	MaxInFlight         int           // outstanding sends per producer, default 1000
	CommitMode          string        // auto | interval (default) | sync
	CommitInterval      time.Duration // for CommitMode interval, default 1s
	Prefetch            int           // messages buffered per consumer; 0 = adapter default
	Assignor            string        // cooperative-sticky (default) | range | roundrobin | sticky
	SessionTimeout      time.Duration // group session timeout; 0 = system default
	StartFrom           string        // earliest (default) | latest
}

// Churn makes consumers leave and rejoin their group on a schedule, to
// measure rebalance storms.
type Churn struct {
	Interval   time.Duration // time between membership changes; required, > 0
	Leave      string        // "close" (default, graceful leave) | "crash" (no leave, no commit)
	Membership string        // "dynamic" (default) | "static" (group.instance.id)
	Downtime   time.Duration // how long a departed consumer stays away; default 0 = rejoin at once
	Consumers  int           // consumers that churn each time; default 1, < consumerPerSubscription
}

// Queue makes consumers work as a queue's: each delivery is accepted,
// released for redelivery or, for poison messages, released until the
// system dead-letters it. It needs a system with queue semantics (Kafka
// share groups, RabbitMQ, Redis Streams, NATS JetStream).
type Queue struct {
	// Release is the share of first deliveries a consumer releases
	// (nack with requeue) instead of accepting, in [0,1).
	Release float64
	// Poison is the share of messages that can never be processed: they
	// are released on every delivery until the delivery limit
	// dead-letters them, in [0,1). Needs MaxDeliveries.
	Poison float64
	// MaxDeliveries is the delivery limit; 0 = the system's default.
	MaxDeliveries int
	// DeadLetter asks for a dead-letter destination where the system has
	// one; where it has none, over-limit messages are archived or dropped
	// and the result says the dead-letter count is unknown.
	DeadLetter bool
	// Processing is the simulated work per delivery, spent before the
	// consumer decides; default 0.
	Processing time.Duration
}

// IdempotentOrDefault reports whether producers should be idempotent:
// Idempotent if set, else true exactly when acks is "all".
func (d Delivery) IdempotentOrDefault() bool {
	if d.Idempotent != nil {
		return *d.Idempotent
	}
	return d.Acks == "" || d.Acks == "all"
}

// fillIdempotent applies the acks-dependent default of Idempotent when it
// is unset, and remembers that it did.
func (d *Delivery) fillIdempotent() {
	if d.Idempotent == nil {
		v := d.IdempotentOrDefault()
		d.Idempotent, d.idempotentDefaulted = &v, true
	}
}

// unfillIdempotent undoes fillIdempotent, so that the default can be
// filled in again (from other acks); an Idempotent the workload set stays.
func (d *Delivery) unfillIdempotent() {
	if d.idempotentDefaulted {
		d.Idempotent, d.idempotentDefaulted = nil, false
	}
}

// IdempotenceRequested reports whether the workload asked for idempotent
// producers explicitly (delivery.idempotent: true in its file, or set in
// code before Default), rather than getting them as the default of
// acks=all, which Default and the parser fill in.
func (w Workload) IdempotenceRequested() bool {
	d := w.Delivery
	return d.Idempotent != nil && *d.Idempotent && !d.idempotentDefaulted
}

// BacklogBytes is ConsumerBacklogSizeGB in bytes (GiB, as OMB computes it).
func (w Workload) BacklogBytes() int64 {
	return int64(w.ConsumerBacklogSizeGB * (1 << 30))
}

// Default fills every unset (zero-valued) field with its default: OMB's
// where OMB has one (warmup 1 minute, backlogDrainRatio 1, NO_KEY), else the
// Default* constants. Because it cannot tell an explicit zero from an unset
// field, it turns BacklogDrainRatio 0, WarmupDuration 0 and
// SubscriptionsPerTopic 0 into their defaults; Load keeps explicit zeros.
func (w *Workload) Default() {
	setInt(&w.Topics, DefaultTopics)
	setInt(&w.PartitionsPerTopic, DefaultPartitionsPerTopic)
	setInt(&w.MessageSize, DefaultMessageSize)
	setInt(&w.SubscriptionsPerTopic, DefaultSubscriptionsPerTopic)
	setInt(&w.ConsumerPerSubscription, DefaultConsumerPerSubscription)
	setInt(&w.ProducersPerTopic, DefaultProducersPerTopic)
	setInt(&w.RandomizedPayloadPoolSize, DefaultRandomizedPayloadPool)
	if w.BacklogDrainRatio == 0 {
		w.BacklogDrainRatio = DefaultBacklogDrainRatio
	}
	if w.WarmupDuration == 0 {
		w.WarmupDuration = DefaultWarmupDuration
	}
	if w.TestDuration == 0 {
		w.TestDuration = DefaultTestDuration
	}
	if w.Guarantee == "" {
		w.Guarantee = "at-least-once"
	}
	w.KeyDistributor.Default()
	w.Delivery.Default()
	if w.Churn != nil {
		w.Churn.Default()
	}
	if w.MaxRate != nil {
		w.MaxRate.Default()
	}
}

// Default fills unset fields: Kind NO_KEY, Keys by kind, and the ZIPF
// exponent or HOT_KEY share when the kind uses them.
func (d *KeyDistribution) Default() {
	if d.Kind == "" {
		d.Kind = KeyNone
	}
	switch d.Kind {
	case KeyRandomNano, KeyRoundRobin:
		setInt(&d.Keys, DefaultOMBKeys)
	case KeyZipf, KeyHot, KeyUniform:
		setInt(&d.Keys, DefaultKeys)
	}
	if d.Kind == KeyZipf && d.Exponent == 0 {
		d.Exponent = DefaultZipfExponent
	}
	if d.Kind == KeyHot && d.HotShare == 0 {
		d.HotShare = DefaultHotShare
	}
}

// Label is a short, file-name-friendly description used in sweep names:
// "NO_KEY", "UNIFORM", "ZIPF-1.1", "HOT_KEY-0.8", with "-k<N>" appended when
// Keys differs from the kind's default.
func (d KeyDistribution) Label() string {
	var b strings.Builder
	b.WriteString(d.Kind)
	switch d.Kind {
	case KeyZipf:
		b.WriteString("-" + formatFloat(d.Exponent))
	case KeyHot:
		b.WriteString("-" + formatFloat(d.HotShare))
	}
	def := DefaultKeys
	if d.Kind == KeyRandomNano || d.Kind == KeyRoundRobin {
		def = DefaultOMBKeys
	}
	if d.Kind != KeyNone && d.Keys != def {
		b.WriteString("-k" + formatInt(d.Keys))
	}
	return b.String()
}

// Default fills unset fields with the defaults documented on Delivery,
// including Idempotent from Acks.
func (d *Delivery) Default() {
	if d.Acks == "" {
		d.Acks = "all"
	}
	d.fillIdempotent()
	if d.Compression == "" {
		d.Compression = "none"
	}
	setInt(&d.MaxInFlight, DefaultMaxInFlight)
	if d.CommitMode == "" {
		d.CommitMode = "interval"
	}
	if d.CommitInterval == 0 {
		d.CommitInterval = DefaultCommitInterval
	}
	if d.Assignor == "" {
		d.Assignor = "cooperative-sticky"
	}
	if d.StartFrom == "" {
		d.StartFrom = "earliest"
	}
}

// Default fills unset fields: Leave close, Membership dynamic, Consumers 1.
// Interval has no default.
func (c *Churn) Default() {
	if c.Leave == "" {
		c.Leave = "close"
	}
	if c.Membership == "" {
		c.Membership = "dynamic"
	}
	setInt(&c.Consumers, 1)
}

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

// clone returns a deep copy, so that expanding or merging never aliases the
// pointers, slices and maps of the original.
func (w Workload) clone() Workload {
	c := w
	if w.Churn != nil {
		ch := *w.Churn
		c.Churn = &ch
	}
	if w.Queue != nil {
		q := *w.Queue
		c.Queue = &q
	}
	if w.MaxRate != nil {
		m := *w.MaxRate
		c.MaxRate = &m
	}
	if w.Chaos != nil {
		ch := *w.Chaos
		ch.Faults = append([]chaos.FaultSpec(nil), w.Chaos.Faults...)
		c.Chaos = &ch
	}
	if w.Delivery.Idempotent != nil {
		v := *w.Delivery.Idempotent
		c.Delivery.Idempotent = &v
	}
	c.Systems = append([]string(nil), w.Systems...)
	c.Report = append([]string(nil), w.Report...)
	c.Warnings = append([]string(nil), w.Warnings...)
	c.SweepKeys = append([]string(nil), w.SweepKeys...)
	if w.Thresholds != nil {
		c.Thresholds = make(map[string]string, len(w.Thresholds))
		for k, v := range w.Thresholds {
			c.Thresholds[k] = v
		}
	}
	if w.Sweep != nil {
		c.Sweep = make(map[string]string, len(w.Sweep))
		for k, v := range w.Sweep {
			c.Sweep[k] = v
		}
	}
	if w.spec != nil {
		c.spec = w.spec.clone()
	}
	return c
}
