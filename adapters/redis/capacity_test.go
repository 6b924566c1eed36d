package redis

import (
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
)

// TestCapacityWarnings: on a private server with maxmemory 20mb, a run
// planning more 1 KiB entries than fit is warned about, with the measured
// entry size; a small run, a max-rate run (size unknown) and a run
// trimmed by MaxLen are not.
func TestCapacityWarnings(t *testing.T) {
	t.Parallel()
	addr := StartTestServer(t, "--maxmemory", "20mb")
	for _, tc := range []struct {
		name     string
		maxLen   int64
		messages int64
		warn     bool
	}{
		{"too many", 0, 100_000, true},
		{"fits", 0, 1_000, false},
		{"max rate", 0, 0, false},
		{"trimmed", 1000, 100_000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{}.Default()
			cfg.Addrs, cfg.MaxLen = []string{addr}, tc.maxLen
			r, err := New(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			topic := newTopic(t, r, adapters.TopicSpec{Partitions: 4})
			ws, err := r.CapacityWarnings(t.Context(), adapters.LoadPlan{Topic: topic, Topics: 1, Partitions: 4, MessageSize: 1024, Messages: tc.messages})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(ws) > 0; got != tc.warn {
				t.Fatalf("warnings %q, want a warning: %v", ws, tc.warn)
			}
			if tc.warn && !strings.Contains(ws[0], "maxmemory 20 MiB") {
				t.Errorf("warning %q does not name maxmemory", ws[0])
			}
			t.Log(ws)
		})
	}
}
