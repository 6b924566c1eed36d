package kafka

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/brokerbench/brokerbench/adapters"
)

// TestDurabilityReadBack: the level asked for at CreateTopic is applied
// where Kafka can express it and read back from the cluster, with the
// evidence; a level the cluster cannot give is reported as what it gives.
func TestDurabilityReadBack(t *testing.T) {
	t.Parallel()
	ref := []string{newRefbroker(t).Addr()}
	three, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(three.Close)
	for _, tc := range []struct {
		name      string
		addrs     []string
		requested adapters.Durability
		acks      adapters.Acks
		want      adapters.Durability
		evidence  string
	}{
		{"refbroker default", ref, "", adapters.AcksAll, adapters.DurabilityAsyncDisk, "flush.ms=1000"},
		{"refbroker sync-disk", ref, adapters.DurabilitySyncDisk, adapters.AcksAll, adapters.DurabilitySyncDisk, "flush.messages=1"},
		{"refbroker memory", ref, adapters.DurabilityMemory, adapters.AcksAll, adapters.DurabilityAsyncDisk, "replication factor 1"},
		{"refbroker replicated on one node", ref, adapters.DurabilityReplicated, adapters.AcksAll, adapters.DurabilityAsyncDisk, "replication factor 1"},
		{"refbroker acks=0", ref, adapters.DurabilitySyncDisk, adapters.AcksNone, adapters.DurabilityMemory, "acks=0"},
		{"kfake replicated on three", three.ListenAddrs(), adapters.DurabilityReplicated, adapters.AcksAll, adapters.DurabilityReplicated, "min.insync.replicas=2"},
		{"kfake replicated with acks=1", three.ListenAddrs(), adapters.DurabilityReplicated, adapters.AcksLeader, adapters.DurabilityAsyncDisk, "replication factor 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKafka(t, tc.addrs)
			topic := "dur-" + strings.NewReplacer(" ", "-", "=", "").Replace(tc.name)
			if err := k.CreateTopic(testCtx(t), adapters.TopicSpec{Name: topic, Partitions: 2, Durability: tc.requested}); err != nil {
				t.Fatal(err)
			}
			rep, err := k.Durability(testCtx(t), topic, tc.acks)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Effective != tc.want || !strings.Contains(strings.Join(rep.Evidence, "; "), tc.evidence) {
				t.Fatalf("durability %s, evidence %q; want %s with %q", rep.Effective, rep.Evidence, tc.want, tc.evidence)
			}
		})
	}
}
