package nats

import (
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
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
			topic := newTopic(t, n, adapters.TopicSpec{Partitions: 2, Durability: tc.requested})
			rep, err := n.Durability(t.Context(), topic, tc.acks)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Effective != tc.want || !strings.Contains(strings.Join(rep.Evidence, "; "), tc.evidence) {
				t.Fatalf("effective %s, evidence %q; want %s with %q", rep.Effective, rep.Evidence, tc.want, tc.evidence)
			}
		})
	}
}
