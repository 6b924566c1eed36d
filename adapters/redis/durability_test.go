package redis

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

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

// TestDurabilityReplicatedWaits: on a private master with one replica,
// durability replicated makes acks=all producers WAIT for the quorum (1 of
// 1 replica), the read-back says replicated with the WAIT as evidence
// (acks=1 producers do not WAIT, so not for them), and once the replica is
// gone a send fails instead of completing unreplicated.
func TestDurabilityReplicatedWaits(t *testing.T) {
	t.Parallel()
	master := StartTestServer(t)
	replica := StartTestServer(t, "--replicaof", strings.Replace(master, ":", " ", 1))
	cfg := Config{}.Default()
	cfg.Addrs, cfg.WaitTimeout = []string{master}, 300*time.Millisecond
	r, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	adaptertest.WaitFor(t, 10*time.Second, "the replica to connect", func() bool {
		n, err := connectedReplicas(t.Context(), r.admin.(*goredis.Client))
		return err == nil && n == 1
	})
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1, Durability: adapters.DurabilityReplicated})
	for _, tc := range []struct {
		acks adapters.Acks
		want adapters.Durability
		ev   string
	}{
		{adapters.AcksAll, adapters.DurabilityReplicated, "WAIT 1 300"},
		{adapters.AcksLeader, adapters.DurabilityMemory, "do not WAIT"},
	} {
		rep, err := r.Durability(t.Context(), topic, tc.acks)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Effective != tc.want || !strings.Contains(strings.Join(rep.Evidence, "; "), tc.ev) {
			t.Errorf("acks=%d: effective %s, evidence %q; want %s with %q", tc.acks, rep.Effective, rep.Evidence, tc.want, tc.ev)
		}
	}
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "wait", Acks: adapters.AcksAll})
	send := func() error {
		errc := make(chan error, 1)
		p.Send(t.Context(), &adapters.Message{Topic: topic, Partition: 0, Value: []byte("v")}, func(_ adapters.SendResult, err error) { errc <- err })
		return <-errc
	}
	if err := send(); err != nil {
		t.Fatalf("send with the replica connected: %v", err)
	}
	// Stop replicating: the replica becomes a master of its own.
	rc := goredis.NewClient(&goredis.Options{Addr: replica})
	defer rc.Close()
	if err := rc.ReplicaOf(t.Context(), "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	adaptertest.WaitFor(t, 10*time.Second, "the replica to disconnect", func() bool {
		n, err := connectedReplicas(t.Context(), r.admin.(*goredis.Client))
		return err == nil && n == 0
	})
	if err := send(); err == nil || !strings.Contains(err.Error(), "0 of 1 replicas") {
		t.Fatalf("send without the replica: %v, want a WAIT failure", err)
	}
}

func TestQuorumReplicas(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]int{1: 1, 2: 1, 3: 2, 4: 2, 5: 3} {
		if got := quorumReplicas(n); got != want {
			t.Errorf("quorumReplicas(%d) = %d, want %d", n, got, want)
		}
	}
}
