package workloads

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/brokerbench/brokerbench/capacity"
)

// Defaults of a maxRate search's probes; the search's own bounds default
// as in package capacity.
const (
	DefaultProbeDuration = capacity.DefaultProbe
	DefaultProbeWarmup   = capacity.DefaultWarmup
)

// MaxRate makes a run an SLO-bounded saturation search instead of one run
// at producerRate: the suite probes open-loop rates (ramp, bisection,
// confirmation) and records the highest rate that meets Objective. The
// method is in docs/capacity.md.
type MaxRate struct {
	// Objective is the latency objective (maxRate.latency) and the
	// achieved share (maxRate.achieved) each probe is judged against.
	Objective capacity.Objective
	// Search bounds the search: start, max, min, factor, precision,
	// budget, maxProbes.
	Search capacity.SearchConfig
	// Probe is each probe's measured length (maxRate.probe), default 10s;
	// Warmup its warm-up (maxRate.warmup), default 2s. They replace the
	// workload's duration and warmup for probes.
	Probe, Warmup time.Duration
	// Repeat is how many times the whole search runs, for an interval on
	// the found rate; default 1.
	Repeat int
	// Brokers is the broker count of the system under test as declared by
	// the user, recorded as the N of a sweep over cluster sizes; 0 = not
	// declared.
	Brokers int
}

// ensureMaxRate creates w.MaxRate with its defaults before its keys are
// read, so that an explicit warmup: 0s stays 0. The search's min is
// filled later by Default, since it follows start.
func ensureMaxRate(w *Workload) {
	if w.MaxRate != nil {
		return
	}
	m := &MaxRate{Probe: DefaultProbeDuration, Warmup: DefaultProbeWarmup, Repeat: 1}
	m.Objective.Default()
	w.MaxRate = m
}

// Default fills the fields left unset (zero) after parsing.
func (m *MaxRate) Default() {
	m.Objective.Default()
	m.Search.Default()
}

func maxRateKeys() map[string]keySpec {
	mr := func(w *Workload) *MaxRate { ensureMaxRate(w); return w.MaxRate }
	fl := func(f func(*MaxRate) *float64) keySpec {
		return keySpec{set: floatField(func(w *Workload) *float64 { return f(mr(w)) })}
	}
	in := func(f func(*MaxRate) *int) keySpec {
		return keySpec{set: intField(func(w *Workload) *int { return f(mr(w)) })}
	}
	dur := func(f func(*MaxRate) *time.Duration) keySpec {
		return keySpec{set: durationField(func(w *Workload) *time.Duration { return f(mr(w)) })}
	}
	return map[string]keySpec{
		"latency":   {nested: latencyKeys(), prepare: ensureMaxRate},
		"achieved":  fl(func(m *MaxRate) *float64 { return &m.Objective.MinAchieved }),
		"start":     fl(func(m *MaxRate) *float64 { return &m.Search.Start }),
		"max":       fl(func(m *MaxRate) *float64 { return &m.Search.Max }),
		"min":       fl(func(m *MaxRate) *float64 { return &m.Search.Min }),
		"factor":    fl(func(m *MaxRate) *float64 { return &m.Search.Factor }),
		"precision": fl(func(m *MaxRate) *float64 { return &m.Search.Precision }),
		"budget":    dur(func(m *MaxRate) *time.Duration { return &m.Search.Budget }),
		"maxProbes": in(func(m *MaxRate) *int { return &m.Search.MaxProbes }),
		"probe":     dur(func(m *MaxRate) *time.Duration { return &m.Probe }),
		"warmup":    dur(func(m *MaxRate) *time.Duration { return &m.Warmup }),
		"repeat":    in(func(m *MaxRate) *int { return &m.Repeat }),
		"brokers":   in(func(m *MaxRate) *int { return &m.Brokers }),
	}
}

func latencyKeys() map[string]keySpec {
	o := func(w *Workload) *capacity.Objective { ensureMaxRate(w); return &w.MaxRate.Objective }
	return map[string]keySpec{
		"percentile": {set: floatField(func(w *Workload) *float64 { return &o(w).Percentile })},
		"below":      {set: setBelow},
		"of":         {set: setOf},
	}
}

// setBelow reads the latency bound as a duration ("50ms") into ms.
func setBelow(w *Workload, n *yaml.Node) error {
	d, err := parseDuration(n)
	if err == nil {
		ensureMaxRate(w)
		w.MaxRate.Objective.BelowMs = float64(d) / float64(time.Millisecond)
	}
	return err
}

// setOf accepts endToEnd or publish, in any case and with - or _.
func setOf(w *Workload, n *yaml.Node) error {
	s, err := scalar(n)
	if err != nil {
		return err
	}
	ensureMaxRate(w)
	switch normalizeKind(s) {
	case "ENDTOEND", "END_TO_END", "E2E":
		w.MaxRate.Objective.Of = capacity.OfEndToEnd
	case "PUBLISH":
		w.MaxRate.Objective.Of = capacity.OfPublish
	default:
		return fmt.Errorf("want %s or %s, got %q", capacity.OfEndToEnd, capacity.OfPublish, s)
	}
	return nil
}

// validateMaxRate checks a search's settings and what it cannot run with.
func (w Workload) validateMaxRate() []*FieldError {
	m := w.MaxRate
	var errs []*FieldError
	add := func(e *FieldError) { errs = append(errs, e) }
	if m.Objective.Percentile == 0 || m.Objective.BelowMs == 0 {
		add(invalidf("maxRate.latency", "the latency objective is required, e.g. latency: {percentile: 99, below: 50ms}"))
	} else if err := m.Objective.Validate(); err != nil {
		add(invalidf(objectiveKey(err.Error()), "%v", err))
	}
	if err := m.Search.Validate(); err != nil {
		add(invalidf("maxRate", "%v", err))
	}
	if m.Probe <= 0 {
		add(invalidf("maxRate.probe", "must be a positive duration such as 10s, got %v", m.Probe))
	}
	if m.Warmup < 0 {
		add(invalidf("maxRate.warmup", "must not be negative, got %v", m.Warmup))
	}
	atLeast(add, "maxRate.repeat", m.Repeat, 1)
	atLeast(add, "maxRate.brokers", m.Brokers, 0)
	if w.ProducerRate != 0 {
		add(invalidf("producerRate", "a maxRate search chooses the rate of each probe; remove producerRate (got %v)", w.ProducerRate))
	}
	if m.Objective.Of == capacity.OfEndToEnd && w.SubscriptionsPerTopic < 1 {
		add(invalidf("maxRate.latency.of", "an end-to-end objective needs consumers: set subscriptionsPerTopic to at least 1, or of: publish"))
	}
	if w.Chaos != nil {
		add(invalidf("chaos", "a maxRate search measures capacity without faults; run the fault schedule in a workload of its own"))
	}
	if w.History {
		add(invalidf("history", "a maxRate search's probes record no history; check delivery in a workload of its own"))
	}
	if w.ConsumerBacklogSizeGB > 0 {
		add(invalidf("consumerBacklogSizeGB", "a maxRate search probes steady open-loop rates; a backlog build does not fit it"))
	}
	return errs
}

// objectiveKey maps an Objective.Validate message ("below: ...") to its
// workload key.
func objectiveKey(msg string) string {
	for _, k := range []string{"percentile", "below", "of"} {
		if len(msg) > len(k) && msg[:len(k)+1] == k+":" {
			return "maxRate.latency." + k
		}
	}
	return "maxRate.achieved"
}
