package workloads

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/suite/systems"
)

// KnownSystems returns the system names a workload's systems: key
// accepts: the registry's ([systems.Names]), sorted.
func KnownSystems() []string {
	return slices.Sorted(slices.Values(systems.Names()))
}

// ReportHints returns the values a workload's report: key accepts:
// figures a report should give prominence to for that workload.
func ReportHints() []string {
	return []string{
		"backlog",          // backlog build-up and drain time
		"lag",              // consumer lag over time
		"latency",          // publish and end-to-end latency percentiles
		"pauses",           // consumption gaps (rebalances, GC, failover)
		"queue",            // releases, redeliveries and their delay, dead letters
		"per-partition",    // throughput per partition
		"per-subscription", // throughput and latency per subscription (fan-out)
		"rebalance",        // rebalance count and duration
		"skew",             // imbalance of messages across partitions or consumers
		"throughput",       // total msg/s and MB/s
	}
}

// Validate reports every invalid value and combination in w, joined with
// errors.Join; each is a [*FieldError] naming the key (and, for workloads
// from Load, the file and line). On a workload with sweeps it validates every
// run of Expand, reporting each distinct problem once. Validate expects the
// defaults to be in place (Load does this; in code call Default first).
func (w Workload) Validate() error {
	return joinFieldErrors(w.validateAll())
}

// validateAll validates w, or each of its runs, and fills in positions. A
// problem found in every run is reported once under the workload's name; one
// found in only some runs is reported under the first such run's name, so
// the message says which sweep value is at fault.
func (w Workload) validateAll() []*FieldError {
	runs := []Workload{w}
	if w.spec != nil && len(w.spec.axes) > 0 {
		runs = w.Expand()
	}
	type seenKey struct {
		line int
		msg  string
	}
	count := map[seenKey]int{}
	var out []*FieldError
	for _, r := range runs {
		for _, e := range r.validate() {
			e.Line = r.spec.lineOf(e.Key)
			if e.Line == 0 {
				e.Line = w.Line
			}
			if w.spec != nil {
				e.File = w.spec.file
			}
			e.Workload = r.Name
			k := seenKey{e.Line, e.Msg}
			if count[k] == 0 {
				out = append(out, e)
			}
			count[k]++
		}
	}
	for _, e := range out {
		if count[seenKey{e.Line, e.Msg}] == len(runs) {
			e.Workload = w.Name
		}
	}
	return out
}

func joinFieldErrors(errs []*FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *FieldError) int {
		return cmp.Compare(a.Line, b.Line)
	})
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return errors.Join(joined...)
}

// validate checks the concrete values of one run.
func (w Workload) validate() []*FieldError {
	var errs []*FieldError
	add := func(e *FieldError) { errs = append(errs, e) }
	if strings.TrimSpace(w.Name) == "" {
		add(invalidf("name", "must not be empty"))
	}
	atLeast(add, "topics", w.Topics, 1)
	atLeast(add, "partitionsPerTopic", w.PartitionsPerTopic, 1)
	if w.MessageSize < MinMessageSize || w.MessageSize > MaxMessageSize {
		add(invalidf("messageSize", "must be between %d (the runner's %d-byte header) and %d bytes, got %d",
			MinMessageSize, MinMessageSize, MaxMessageSize, w.MessageSize))
	}
	ratio(add, "randomBytesRatio", w.RandomBytesRatio)
	atLeast(add, "randomizedPayloadPoolSize", w.RandomizedPayloadPoolSize, 0)
	if w.UseRandomizedPayloads && w.RandomizedPayloadPoolSize < 1 {
		add(invalidf("randomizedPayloadPoolSize", "must be at least 1 with useRandomizedPayloads: true, got %d",
			w.RandomizedPayloadPoolSize))
	}
	atLeast(add, "subscriptionsPerTopic", w.SubscriptionsPerTopic, 0)
	atLeast(add, "consumerPerSubscription", w.ConsumerPerSubscription, 1)
	atLeast(add, "producersPerTopic", w.ProducersPerTopic, 1)
	if !(w.ProducerRate >= 0) || math.IsInf(w.ProducerRate, 0) {
		add(invalidf("producerRate", "must be 0 (as fast as possible) or a positive rate in msg/s over all producers, got %v",
			w.ProducerRate))
	}
	for _, e := range w.KeyDistributor.validate() {
		add(e)
	}
	if !(w.ConsumerBacklogSizeGB >= 0) || math.IsInf(w.ConsumerBacklogSizeGB, 0) {
		add(invalidf("consumerBacklogSizeGB", "must be 0 (no backlog) or a positive size in GiB, got %v", w.ConsumerBacklogSizeGB))
	}
	if w.ConsumerBacklogSizeGB > 0 && w.SubscriptionsPerTopic < 1 {
		add(invalidf("consumerBacklogSizeGB", "a backlog needs consumers to drain it; set subscriptionsPerTopic to at least 1"))
	}
	ratio(add, "backlogDrainRatio", w.BacklogDrainRatio)
	if w.PauseProducersDuringDrain && w.ConsumerBacklogSizeGB == 0 {
		add(invalidf("pauseProducersDuringDrain", "pauses producers while a backlog drains; set consumerBacklogSizeGB too"))
	}
	if w.TestDuration <= 0 {
		add(invalidf("duration", "the test duration must be positive, got %v; set duration: 30s or testDurationMinutes: 0.5", w.TestDuration))
	}
	if w.WarmupDuration < 0 {
		add(invalidf("warmup", "the warmup must not be negative, got %v", w.WarmupDuration))
	}
	errs = append(errs, w.Delivery.validate()...)
	if w.Churn != nil {
		errs = append(errs, w.validateChurn()...)
	}
	if q := w.Queue; q != nil {
		shareOf := func(key string, v float64) {
			if !(v >= 0 && v < 1) {
				add(invalidf(key, "must be a share in [0, 1), e.g. 0.1, got %v", v))
			}
		}
		shareOf("queue.release", q.Release)
		shareOf("queue.poison", q.Poison)
		if q.MaxDeliveries < 0 {
			add(invalidf("queue.maxDeliveries", "must be 0 (system default) or a positive count, got %d", q.MaxDeliveries))
		}
		if q.Poison > 0 && q.MaxDeliveries == 0 {
			add(invalidf("queue.poison", "poison messages are released until the delivery limit dead-letters them; set queue.maxDeliveries (e.g. 5)"))
		}
		if q.Processing < 0 {
			add(invalidf("queue.processing", "must not be negative, got %v", q.Processing))
		}
	}
	if w.MaxRate != nil {
		errs = append(errs, w.validateMaxRate()...)
	}
	errs = append(errs, oneOfList("systems", w.Systems, KnownSystems())...)
	errs = append(errs, oneOfList("report", w.Report, ReportHints())...)
	if w.Guarantee != "" {
		oneOf(func(e *FieldError) { errs = append(errs, e) }, "guarantee", w.Guarantee, "at-least-once", "exactly-once", "at-most-once")
	}
	if w.Durability != "" {
		oneOf(func(e *FieldError) { errs = append(errs, e) }, "durability", w.Durability, adapters.DurabilityNames()...)
	}
	if w.DurabilityRequired && w.Durability == "" {
		errs = append(errs, invalidf("durabilityRequired", "needs a durability level to require; set durability: (%s)", strings.Join(adapters.DurabilityNames(), ", ")))
	}
	return errs
}

func (d KeyDistribution) validate() []*FieldError {
	var errs []*FieldError
	kinds := []string{KeyNone, KeyRandomNano, KeyRoundRobin, KeyZipf, KeyHot, KeyUniform}
	if !slices.Contains(kinds, d.Kind) {
		return []*FieldError{invalidf("keyDistributor", "unknown distribution %q; use one of %s",
			d.Kind, strings.Join(kinds, ", "))}
	}
	if d.Kind != KeyNone && d.Keys < 1 {
		errs = append(errs, invalidf("keyDistributor.keys", "must be at least 1, got %d", d.Keys))
	}
	switch d.Kind {
	case KeyZipf:
		if !(d.Exponent > 1) || math.IsInf(d.Exponent, 0) {
			errs = append(errs, invalidf("keyDistributor.exponent", "ZIPF needs an exponent greater than 1 (e.g. 1.1), got %v", d.Exponent))
		}
	case KeyHot:
		if d.Keys < 2 {
			errs = append(errs, invalidf("keyDistributor.keys", "HOT_KEY needs at least 2 keys (one hot, the rest cold), got %d", d.Keys))
		}
		if !(d.HotShare > 0 && d.HotShare < 1) {
			errs = append(errs, invalidf("keyDistributor.hotShare", "must be strictly between 0 and 1 (e.g. 0.8), got %v", d.HotShare))
		}
	}
	return errs
}

func (d Delivery) validate() []*FieldError {
	var errs []*FieldError
	add := func(e *FieldError) { errs = append(errs, e) }
	oneOf(add, "delivery.acks", d.Acks, "all", "1", "0")
	if d.Idempotent != nil && *d.Idempotent && d.Acks != "all" {
		add(invalidf("delivery.idempotent", "idempotent producers need acks: all, but acks is %q; set idempotent: false or acks: all", d.Acks))
	}
	if d.Linger < 0 {
		add(invalidf("delivery.linger", "must not be negative, got %v", d.Linger))
	}
	atLeast(add, "delivery.batchBytes", d.BatchBytes, 0)
	oneOf(add, "delivery.compression", d.Compression, "none", "gzip", "snappy", "lz4", "zstd")
	atLeast(add, "delivery.maxInFlight", d.MaxInFlight, 1)
	oneOf(add, "delivery.commitMode", d.CommitMode, "auto", "interval", "sync")
	if d.CommitMode == "interval" && d.CommitInterval <= 0 {
		add(invalidf("delivery.commitInterval", "must be positive with commitMode: interval, got %v", d.CommitInterval))
	}
	atLeast(add, "delivery.prefetch", d.Prefetch, 0)
	oneOf(add, "delivery.assignor", d.Assignor, "cooperative-sticky", "range", "roundrobin", "sticky")
	if d.SessionTimeout < 0 {
		add(invalidf("delivery.sessionTimeout", "must not be negative, got %v", d.SessionTimeout))
	}
	oneOf(add, "delivery.startFrom", d.StartFrom, "earliest", "latest")
	return errs
}

func (w Workload) validateChurn() []*FieldError {
	c := w.Churn
	var errs []*FieldError
	add := func(e *FieldError) { errs = append(errs, e) }
	if c.Interval <= 0 {
		add(invalidf("churn.interval", "must be a positive time between membership changes, e.g. interval: 5s; got %v", c.Interval))
	}
	oneOf(add, "churn.leave", c.Leave, "close", "crash")
	oneOf(add, "churn.membership", c.Membership, "dynamic", "static")
	if c.Downtime < 0 {
		add(invalidf("churn.downtime", "must not be negative, got %v", c.Downtime))
	}
	atLeast(add, "churn.consumers", c.Consumers, 1)
	if w.SubscriptionsPerTopic < 1 || w.ConsumerPerSubscription < 2 {
		add(invalidf("churn", "needs a group to rebalance: subscriptionsPerTopic >= 1 and consumerPerSubscription >= 2 (got %d and %d)",
			w.SubscriptionsPerTopic, w.ConsumerPerSubscription))
	} else if c.Consumers >= w.ConsumerPerSubscription {
		add(invalidf("churn.consumers", "must be less than consumerPerSubscription (%d) so the group never empties, got %d",
			w.ConsumerPerSubscription, c.Consumers))
	}
	return errs
}

func atLeast(add func(*FieldError), key string, v, lo int) {
	if v < lo {
		add(invalidf(key, "must be at least %d, got %d", lo, v))
	}
}

func ratio(add func(*FieldError), key string, v float64) {
	if !(v >= 0 && v <= 1) {
		add(invalidf(key, "must be between 0 and 1, got %v", v))
	}
}

func oneOf(add func(*FieldError), key, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		add(invalidf(key, "must be one of %s, got %q", strings.Join(allowed, ", "), v))
	}
}

// oneOfList checks each item of a list key against allowed, and for repeats.
func oneOfList(key string, vals, allowed []string) []*FieldError {
	var errs []*FieldError
	seen := map[string]bool{}
	for _, v := range vals {
		switch {
		case !slices.Contains(allowed, v):
			msg := fmt.Sprintf("unknown value %q; use any of %s", v, strings.Join(allowed, ", "))
			if s := suggest(v, allowed); s != "" {
				msg = fmt.Sprintf("unknown value %q (did you mean %q?)", v, s)
			}
			errs = append(errs, invalidf(key, "%s", msg))
		case seen[v]:
			errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf("%s: %q listed twice", key, v), Err: ErrDuplicate})
		}
		seen[v] = true
	}
	return errs
}
