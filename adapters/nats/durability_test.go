package nats

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// TestDurabilityReadBack: the requested level picks the stream's storage
// (and replicas where the server is clustered), and the read-back reports
// what the server's stream info says, never claiming sync-disk.
func TestDurabilityReadBack(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	for _, tc := range []struct {
		requested adapters.Durability
		acks      adapters.Acks
		want      adapters.Durability
		evidence  string
	}{
		// The test systems use memory storage (newNATS); "" keeps it.
		{"", adapters.AcksAll, adapters.DurabilityMemory, "storage=Memory"},
		{adapters.DurabilityMemory, adapters.AcksAll, adapters.DurabilityMemory, "storage=Memory"},
		{adapters.DurabilityAsyncDisk, adapters.AcksAll, adapters.DurabilityAsyncDisk, "storage=File"},
		{adapters.DurabilitySyncDisk, adapters.AcksAll, adapters.DurabilityAsyncDisk, "sync-disk not claimed"},
		// The test server is a single, unclustered server: one replica.
		{adapters.DurabilityReplicated, adapters.AcksAll, adapters.DurabilityAsyncDisk, "replicas=1"},
		{adapters.DurabilityAsyncDisk, adapters.AcksNone, adapters.DurabilityMemory, "acks=0"},
	} {
		t.Run(string(tc.requested)+"/"+string(tc.want), func(t *testing.T) {
			checkDurability(t, n, tc.requested, tc.acks, tc.want, tc.evidence)
		})
	}
}

// TestDurabilityServerSync: the server's fsync settings are read from its
// monitoring endpoint (/varz, here a stand-in serving what servers send):
// sync_always makes file storage sync-disk, anything else, an endpoint
// that does not answer included, leaves it async-disk, saying why.
func TestDurabilityServerSync(t *testing.T) {
	t.Parallel()
	adaptertest.RequireService(t, "nats", natsAddr)
	for _, tc := range []struct {
		name     string
		varz     string // "" : no endpoint
		want     adapters.Durability
		evidence string
	}{
		{"sync always", `{"version":"2.11.0","jetstream":{"config":{"sync_interval":120000000000,"sync_always":true}}}`, adapters.DurabilitySyncDisk, "sync_always=true"},
		{"sync interval", `{"version":"2.11.0","jetstream":{"config":{"sync_interval":120000000000}}}`, adapters.DurabilityAsyncDisk, "sync_interval=2m0s"},
		{"before 2.10", `{"version":"2.9.10","jetstream":{"config":{"max_memory":1}}}`, adapters.DurabilityAsyncDisk, "reports no sync_interval"},
		{"unreachable", "", adapters.DurabilityAsyncDisk, "not reachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{}.Default()
			if tc.varz != "" {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path != "/varz" {
						http.NotFound(w, r)
						return
					}
					_, _ = w.Write([]byte(tc.varz))
				}))
				t.Cleanup(srv.Close)
				cfg.MonitorURL = srv.URL
			} else {
				cfg.MonitorURL = "http://127.0.0.1:1" // nothing listens on port 1
			}
			n, err := New(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = n.Close() })
			checkDurability(t, n, adapters.DurabilityAsyncDisk, adapters.AcksAll, tc.want, tc.evidence)
		})
	}
}

// checkDurability creates a topic asking for requested and checks that
// Durability reads back want, with evidence containing the given text.
func checkDurability(t *testing.T, n *NATS, requested adapters.Durability, acks adapters.Acks, want adapters.Durability, evidence string) {
	t.Helper()
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 2, Durability: requested})
	rep, err := n.Durability(t.Context(), topic, acks)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Effective != want || !strings.Contains(strings.Join(rep.Evidence, "; "), evidence) {
		t.Fatalf("effective %s, evidence %q; want %s with %q", rep.Effective, rep.Evidence, want, evidence)
	}
}

// TestMonitorURL: where Durability looks for /varz.
func TestMonitorURL(t *testing.T) {
	for _, tc := range []struct{ url, monitor, want string }{
		{"nats://127.0.0.1:4222", "auto", "http://127.0.0.1:8222/varz"},
		{"nats://u:p@nats.example:4222,nats://b:4222", "auto", "http://nats.example:8222/varz"},
		{"nats://[::1]:4222", "auto", "http://[::1]:8222/varz"},
		{"nats://127.0.0.1:4222", "off", ""},
		{"nats://127.0.0.1:4222", "https://mon.example/", "https://mon.example/varz"},
	} {
		if got := (Config{URL: tc.url, MonitorURL: tc.monitor}).monitorURL(); got != tc.want {
			t.Errorf("URL %q MonitorURL %q: %q, want %q", tc.url, tc.monitor, got, tc.want)
		}
	}
}
