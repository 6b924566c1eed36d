package workloads

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/capacity"
)

func TestMaxRateParse(t *testing.T) {
	t.Parallel()
	w := mustOne(t, multi(lines(
		"    partitionsPerTopic: [1, 2]",
		"    maxRate:",
		"      latency: {percentile: 99.9, below: 20ms, of: publish}",
		"      achieved: 0.98",
		"      start: 5000",
		"      precision: 0.1",
		"      budget: 1m",
		"      probe: 3s",
		"      warmup: 0s",
		"      repeat: 3",
		"      brokers: 3")))
	m := w.MaxRate
	if m == nil {
		t.Fatal("MaxRate not set")
	}
	want := capacity.Objective{Percentile: 99.9, BelowMs: 20, Of: capacity.OfPublish, MinAchieved: 0.98}
	if m.Objective != want {
		t.Errorf("objective %+v, want %+v", m.Objective, want)
	}
	// min follows start; the other bounds keep their defaults.
	if m.Search.Start != 5000 || m.Search.Min != 5000.0/64 || m.Search.Factor != capacity.DefaultFactor ||
		m.Search.Precision != 0.1 || m.Search.Budget != time.Minute || m.Search.MaxProbes != capacity.DefaultMaxProbes {
		t.Errorf("search %+v", m.Search)
	}
	// An explicit warmup: 0s stays 0.
	if m.Probe != 3*time.Second || m.Warmup != 0 || m.Repeat != 3 || m.Brokers != 3 {
		t.Errorf("probe %v warmup %v repeat %d brokers %d", m.Probe, m.Warmup, m.Repeat, m.Brokers)
	}
	runs := w.Expand()
	if len(runs) != 2 || runs[1].MaxRate == nil || runs[1].MaxRate == runs[0].MaxRate {
		t.Fatalf("every run of a sweep gets its own copy of maxRate")
	}
	// Defaults of a minimal objective.
	d := mustOne(t, multi(lines("    maxRate: {latency: {percentile: 99, below: 50ms}}"))).MaxRate
	if d.Objective.Of != capacity.OfEndToEnd || d.Objective.MinAchieved != capacity.DefaultMinAchieved ||
		d.Probe != DefaultProbeDuration || d.Warmup != DefaultProbeWarmup || d.Repeat != 1 {
		t.Errorf("defaults %+v", d)
	}
}

func TestMaxRateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		line int
		key  string
		want string
	}{
		{name: "objective required", body: lines("    maxRate: {start: 100}"), line: 3, key: "maxRate.latency", want: "objective is required"},
		{name: "percentile range", body: lines("    maxRate: {latency: {percentile: 100, below: 5ms}}"), line: 3, key: "maxRate.latency.percentile", want: "below 100"},
		{name: "bound without unit", body: lines("    maxRate:", "      latency: {percentile: 99, below: 50}"), line: 4, key: "maxRate.latency.below", want: "no unit"},
		{name: "unknown figure", body: lines("    maxRate: {latency: {percentile: 99, below: 5ms, of: consume}}"), line: 3, key: "maxRate.latency.of", want: "endToEnd or publish"},
		{name: "typo", body: lines("    maxRate:", "      latency: {percentile: 99, below: 5ms}", "      budjet: 1m"), line: 5, key: "maxRate.budjet", want: "did you mean \"maxRate.budget\""},
		{name: "rate given", body: lines("    producerRate: 100", "    maxRate: {latency: {percentile: 99, below: 5ms}}"), line: 3, key: "producerRate", want: "chooses the rate"},
		{name: "e2e without consumers", body: lines("    subscriptionsPerTopic: 0", "    maxRate: {latency: {percentile: 99, below: 5ms}}"), key: "maxRate.latency.of", want: "needs consumers"},
		{name: "factor", body: lines("    maxRate: {latency: {percentile: 99, below: 5ms}, factor: 1}"), line: 3, key: "maxRate", want: "factor: must be above 1"},
		{name: "history", body: lines("    history: true", "    maxRate: {latency: {percentile: 99, below: 5ms}}"), line: 3, key: "history", want: "record no history"},
		{name: "repeat", body: lines("    maxRate: {latency: {percentile: 99, below: 5ms}, repeat: 0}"), line: 3, key: "maxRate.repeat", want: "at least 1"},
	}
	for _, tt := range tests {
		_, err := parseSrc(t, multi(tt.body))
		if !errors.Is(err, ErrInvalidValue) && !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: error %v, want an invalid value or unknown key", tt.name, err)
			continue
		}
		// The first error is the one at fault (a bound that does not
		// parse also leaves the objective incomplete).
		fes := fieldErrors(t, err)
		if len(fes) == 0 || fes[0].Key != tt.key || !strings.Contains(fes[0].Msg, tt.want) || (tt.line > 0 && fes[0].Line != tt.line) {
			t.Errorf("%s: got %v; want first error at line %d key %s containing %q", tt.name, err, tt.line, tt.key, tt.want)
		}
	}
}
