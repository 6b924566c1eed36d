package rabbitmq

import (
	"errors"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
)

// TestDurabilityReadBack: the level is read back from what the server
// accepts for the topic's queue, per queue type and acks.
func TestDurabilityReadBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		qt       QueueType
		acks     adapters.Acks
		want     adapters.Durability
		evidence string
	}{
		{QueueQuorum, adapters.AcksAll, adapters.DurabilitySyncDisk, "x-queue-type=quorum"},
		{QueueClassic, adapters.AcksAll, adapters.DurabilitySyncDisk, "x-queue-type=classic"},
		{QueueStream, adapters.AcksAll, adapters.DurabilityAsyncDisk, "without an fsync"},
		{QueueClassic, adapters.AcksNone, adapters.DurabilityMemory, "acks=0"},
	} {
		t.Run(string(tc.qt), func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, tc.qt)
			topic := newTopic(t, r, 2, "s")
			rep, err := r.Durability(t.Context(), topic, tc.acks)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Effective != tc.want || !strings.Contains(strings.Join(rep.Evidence, "; "), tc.evidence) {
				t.Fatalf("effective %s, evidence %q; want %s with %q", rep.Effective, rep.Evidence, tc.want, tc.evidence)
			}
		})
	}
	r := newRabbit(t, QueueClassic)
	if _, err := r.Durability(t.Context(), "bbrabbit-never-created", adapters.AcksAll); !errors.Is(err, adapters.ErrTopicNotFound) {
		t.Fatalf("unknown topic: err = %v, want ErrTopicNotFound", err)
	}
}
