package redis

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// TestDurabilityAppliedReadBackAndRestored: a requested level is applied
// with CONFIG SET, read back with its evidence, and the server's previous
// settings come back at Close. (Sequential: it changes the shared server's
// persistence for a moment, which other tests only feel as speed.)
func TestDurabilityAppliedReadBackAndRestored(t *testing.T) {
	probe := newRedis(t)
	before := configOf(t, probe)
	for _, tc := range []struct {
		requested adapters.Durability
		acks      adapters.Acks
		want      adapters.Durability
		evidence  string
	}{
		{adapters.DurabilitySyncDisk, adapters.AcksAll, adapters.DurabilitySyncDisk, "appendfsync=always"},
		{adapters.DurabilityAsyncDisk, adapters.AcksAll, adapters.DurabilityAsyncDisk, "appendfsync=everysec"},
		{adapters.DurabilitySyncDisk, adapters.AcksNone, adapters.DurabilityMemory, "acks=0"},
		{adapters.DurabilityReplicated, adapters.AcksAll, "", "do not WAIT"},
	} {
		t.Run(fmt.Sprintf("%s/acks=%d", tc.requested, tc.acks), func(t *testing.T) {
			r := newRedis(t)
			// Created through r, deleted through probe: r is closed below.
			topic := "bbtest-redis-dur-" + adaptertest.Suffix()
			t.Cleanup(func() { _ = probe.DeleteTopic(context.Background(), topic) })
			if err := r.CreateTopic(t.Context(), adapters.TopicSpec{Name: topic, Partitions: 1, Durability: tc.requested}); err != nil {
				t.Fatal(err)
			}
			rep, err := r.Durability(t.Context(), topic, tc.acks)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == "" { // replicated is not applied: whatever the server gives, never replicated
				if rep.Effective == adapters.DurabilityReplicated || rep.Effective == "" {
					t.Fatalf("replicated requested: effective %q", rep.Effective)
				}
				want = rep.Effective
			}
			if rep.Effective != want || !strings.Contains(strings.Join(rep.Evidence, "; "), tc.evidence) {
				t.Fatalf("effective %s, evidence %q; want %s with %q", rep.Effective, rep.Evidence, want, tc.evidence)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if after := configOf(t, probe); after != before {
				t.Fatalf("server settings after Close %q, want them restored to %q", after, before)
			}
		})
	}
}

// configOf returns the persistence settings of the test server.
func configOf(t *testing.T, r *Redis) string {
	t.Helper()
	var parts []string
	for _, k := range []string{"appendonly", "appendfsync"} {
		v, err := r.admin.ConfigGet(t.Context(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, k+"="+v[k])
	}
	return strings.Join(parts, " ")
}
