package rabbitmq

import (
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// TestPlanProducer: channels follow the target rate, connections the
// channels, and the confirm window keeps both bounds.
func TestPlanProducer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  adapters.ProducerConfig
		want producerPlan
	}{
		// Maximum rate: every channel, two per connection, MaxInFlight shared.
		{"max rate", adapters.ProducerConfig{}, producerPlan{Channels: 4, Connections: 2, Window: 250, MaxInFlight: 1000}},
		// A slow producer needs one channel; the window is still capped.
		{"1k msg/s", adapters.ProducerConfig{Rate: 1000}, producerPlan{Channels: 1, Connections: 1, Window: 256, MaxInFlight: 1000}},
		{"25k msg/s", adapters.ProducerConfig{Rate: 25_000, MaxInFlight: 300}, producerPlan{Channels: 3, Connections: 2, Window: 100, MaxInFlight: 300}},
		{"above the channel cap", adapters.ProducerConfig{Rate: 1e6}, producerPlan{Channels: 4, Connections: 2, Window: 250, MaxInFlight: 1000}},
		// One send in flight: one channel, or the bound would not hold.
		{"in-flight 1", adapters.ProducerConfig{MaxInFlight: 1}, producerPlan{Channels: 1, Connections: 1, Window: 1, MaxInFlight: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := planProducer(tc.cfg)
			if err != nil || got != tc.want {
				t.Fatalf("planProducer(%+v) = %+v, %v; want %+v", tc.cfg, got, err, tc.want)
			}
			if got.Window*got.Channels > got.MaxInFlight {
				t.Errorf("windows %d x %d exceed MaxInFlight %d", got.Window, got.Channels, got.MaxInFlight)
			}
		})
	}
	for _, bad := range []adapters.ProducerConfig{{MaxInFlight: -1}, {Rate: -5}} {
		if _, err := planProducer(bad); err == nil {
			t.Errorf("planProducer(%+v) accepted", bad)
		}
	}
}

// TestPlanConsumer: the ack cadence per commit mode and prefetch.
func TestPlanConsumer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  adapters.ConsumerConfig
		want consumerPlan
	}{
		{"defaults", adapters.ConsumerConfig{}, consumerPlan{Prefetch: 256, Commit: adapters.CommitInterval, Interval: time.Second, AckEvery: 128}},
		{"sync acks each", adapters.ConsumerConfig{Commit: adapters.CommitSync, Prefetch: 10}, consumerPlan{Prefetch: 10, Commit: adapters.CommitSync, Interval: time.Second, AckEvery: 1}},
		{"prefetch 1", adapters.ConsumerConfig{Prefetch: 1, CommitInterval: time.Millisecond}, consumerPlan{Prefetch: 1, Commit: adapters.CommitInterval, Interval: time.Millisecond, AckEvery: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, err := planConsumer(tc.cfg); err != nil || got != tc.want {
				t.Fatalf("planConsumer = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	for _, bad := range []adapters.ConsumerConfig{{Commit: "never"}, {Prefetch: -1}, {Prefetch: 70000}, {CommitInterval: -time.Second}} {
		if _, err := planConsumer(bad); err == nil {
			t.Errorf("planConsumer(%+v) accepted", bad)
		}
	}
}

// TestClientSettings: the report says what the plans do, with reasons for
// the adapter's own choices and none for what the workload set.
func TestClientSettings(t *testing.T) {
	t.Parallel()
	r := &RabbitMQ{cfg: Config{}.Default()}
	got := map[string]adapters.ClientSetting{}
	for _, s := range r.ClientSettings(adapters.ProducerConfig{ID: "p", Acks: adapters.AcksAll, MaxInFlight: 1000, Rate: 15_000},
		adapters.ConsumerConfig{ID: "c", CommitInterval: 2 * time.Second}) {
		got[s.Name] = s
	}
	for name, want := range map[string]struct{ value, reason string }{
		"producer channels":                  {"2 (partition p on channel p mod 2", "target 15000 msg/s"},
		"producer connections":               {"1", "2 channels per connection"},
		"publisher confirms":                 {"on, window 256 per channel", "BenchmarkConfirmWindow"},
		"unconfirmed sends per producer":     {"1000", ""},
		"prefetch (basic.qos per partition)": {"256", "100 to 300"},
		"acknowledgement":                    {"every 2s or every 128 handled deliveries", "above 64 msg/s per partition"},
		"queue type":                         {"by the workload's durability", "quorum"},
	} {
		s, ok := got[name]
		if !ok || !strings.Contains(s.Value, want.value) || !strings.Contains(s.Reason, want.reason) || (want.reason == "") != (s.Reason == "") {
			t.Errorf("%s = %+v, want value with %q, reason with %q", name, s, want.value, want.reason)
		}
	}
	r.cfg.QueueType = QueueClassic
	seen := map[string]bool{}
	for _, s := range r.ClientSettings(adapters.ProducerConfig{ID: "p", Rate: -1}, adapters.ConsumerConfig{}) {
		seen[s.Name] = true
		switch s.Name {
		case "queue type":
			if s.Value != "classic" || s.Reason != "" {
				t.Errorf("explicit queue type reported as %+v", s)
			}
		case "producer":
			if s.Value != "invalid" {
				t.Errorf("bad producer config reported as %+v", s)
			}
		}
	}
	// The bad producer is named; a run without consumers reports none.
	if !seen["queue type"] || !seen["producer"] || seen["acknowledgement"] || seen["prefetch (basic.qos per partition)"] {
		t.Errorf("settings for a bad producer and no consumers: %v", seen)
	}
}
