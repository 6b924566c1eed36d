package kafka

import (
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// TestClientSettings: what the adapter reports is what kgo was given,
// kgo's defaults where the workload set nothing (with a reason), and the
// workload's values without one.
func TestClientSettings(t *testing.T) {
	t.Parallel()
	k := newKafka(t, newCluster(t).ListenAddrs())
	find := func(t *testing.T, got []adapters.ClientSetting, name string) adapters.ClientSetting {
		t.Helper()
		for _, s := range got {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no setting %q in %+v", name, got)
		return adapters.ClientSetting{}
	}
	cons := adapters.ConsumerConfig{ID: "c", Topic: "t", Subscription: "s", Handler: func(*adapters.Delivery) {}}
	def := k.ClientSettings(adapters.ProducerConfig{ID: "p", Acks: adapters.AcksAll, Idempotent: true}, cons)
	for name, want := range map[string]string{
		"linger": "10ms", "batch.max.bytes": "1000012", "max buffered records": "1000",
		"max in-flight requests per broker": "5", "idempotent": "true", "compression": "none",
		"max records per poll": "500", "commit": "marks, committed every 1s",
		"fetch.max.bytes": "52428800", "fetch.max.wait": "5s",
	} {
		s := find(t, def, name)
		if s.Value != want {
			t.Errorf("default %s = %q, want %q", name, s.Value, want)
		}
		if name == "linger" && s.Reason == "" {
			t.Errorf("default linger carries no reason")
		}
	}
	set := k.ClientSettings(adapters.ProducerConfig{ID: "p", Acks: adapters.AcksLeader, Linger: 2 * time.Millisecond, MaxInFlight: 64, Compression: "zstd"},
		adapters.ConsumerConfig{ID: "c", Topic: "t", Subscription: "s", Handler: cons.Handler, Prefetch: 100, CommitInterval: 250 * time.Millisecond})
	for name, want := range map[string]string{
		"linger": "2ms", "max buffered records": "64", "idempotent": "false", "compression": "zstd",
		"max in-flight requests per broker": "1", "max records per poll": "100", "commit": "marks, committed every 250ms",
	} {
		s := find(t, set, name)
		if s.Value != want {
			t.Errorf("set %s = %q, want %q", name, s.Value, want)
		}
		if name == "linger" && s.Reason != "" {
			t.Errorf("linger set by the workload carries a default's reason %q", s.Reason)
		}
	}
}
