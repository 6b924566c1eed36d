package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/results"
)

// localSystem is a system the local-workers tests run against: the
// partitions a workload gets there and the shared server it needs ("" for
// refbroker, which the coordinator starts).
type localSystem struct {
	system     string
	partitions int
	addr       string
	// takeover: backlog and churn workloads are refused sharded here
	// (shardTakeover).
	takeover bool
}

// localSystems: RabbitMQ, Redis and NATS coordinate a subscription's
// consumers within one process only, so one partition lets the shards'
// consumers compete for it rather than wait for one of their own.
var localSystems = []localSystem{
	{"refbroker", 6, "", false},
	{"redis", 1, "127.0.0.1:6379", true},
	{"rabbitmq", 1, "127.0.0.1:5672", false},
	{"nats", 1, "127.0.0.1:4222", true},
}

// require skips (fails under CI) when the system's server is not running.
func (s localSystem) require(t *testing.T) {
	t.Helper()
	if s.addr != "" {
		requireLoopback(t, s.system, s.addr)
	}
}

// eachLocalSystem runs f as a subtest per local system whose server runs
// (only those named in only, when given); the workload takes long (what
// says how), so -short skips it.
func eachLocalSystem(t *testing.T, what string, f func(t *testing.T, s localSystem), only ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("three worker processes run " + what + "; skipped in -short mode")
	}
	t.Setenv(asCLIEnv, "1")
	for _, s := range localSystems {
		if len(only) > 0 && !slices.Contains(only, s.system) {
			continue
		}
		t.Run(s.system, func(t *testing.T) {
			s.require(t)
			f(t, s)
		})
	}
}

// runLocalWorkers runs workload name of file on system as three local
// workers, gated, with the extra flags, and returns the results folder, the
// summary printed and the merged result.
func runLocalWorkers(t *testing.T, system, file, name string, extra ...string) (string, string, *results.Result) {
	t.Helper()
	out := t.TempDir()
	code, stdout, stderr := run(t, append([]string{"run", "--workloads", file, "--system", system, "--local-workers", "3",
		"--out", out, "--no-report", "--gate", "--allow-degraded", "--no-progress"}, extra...)...)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	merged, err := results.Read(filepath.Join(out, results.FileName(name, system)))
	if err != nil {
		t.Fatal(err)
	}
	return out, stdout, merged
}

// refusedSharded checks that a workload whose consumers start on a
// backlog or restart is refused sharded on system, saying why
// (shardTakeover).
func refusedSharded(t *testing.T, file, name, system string) {
	t.Helper()
	code, _, stderr := run(t, "run", "--workloads", file, "--system", system, "--local-workers", "3", "--out", t.TempDir(), "--no-report")
	if want := "workload " + name + " on " + system + " cannot run sharded"; code != exitUsage || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr:\n%s\nwant a usage error containing %q", code, stderr, want)
	}
}

// shardResultOf reads shard i's one result in the results folder out.
func shardResultOf(t *testing.T, out string, i int) *results.Result {
	t.Helper()
	rs, _, err := results.ReadDir(filepath.Join(out, "shards", fmt.Sprintf("shard-%d", i)))
	if err != nil || len(rs) != 1 {
		t.Fatalf("shard %d: %d results, %v", i, len(rs), err)
	}
	return rs[0]
}

// TestLocalWorkersQueue runs a queue workload (competing consumers that
// release 10% of first deliveries and never accept 1% poison messages) as
// three worker processes: the consumers of every shard compete for the
// same queues, and the merged result counts as one machine's would: each
// acknowledged message but the poison processed once, a "release once"
// message released once whichever shards got it, every poison message
// dead-lettered, and a history the queue model accepts.
func TestLocalWorkersQueue(t *testing.T) {
	eachLocalSystem(t, "a 3-second queue workload", func(t *testing.T, tt localSystem) {
		file := writeFile(t, "w.yaml", fmt.Sprintf(`defaults:
  topics: 1
  messageSize: 256
  warmup: 1s
  duration: 2s
workloads:
  - name: distq
    partitionsPerTopic: %d
    producersPerTopic: 3
    consumerPerSubscription: 3
    producerRate: 600
    history: true
    queue:
      release: 0.1
      poison: 0.01
      maxDeliveries: 3
      deadLetter: true
    thresholds: {lost: "== 0"}
`, tt.partitions))
		out, _, merged := runLocalWorkers(t, tt.system, file, "distq")
		c := merged.Counts
		t.Logf("%s merged counts %+v", tt.system, c)
		if c.Acked == 0 || c.Received != c.Acked-c.PoisonAcked || c.Lost != 0 || c.Duplicates != 0 {
			t.Errorf("merged counts %+v: want every acknowledged message but the poison received once", c)
		}
		// A "release once" message is released once and redelivered
		// once (a shard knows a redelivery from the system's flag), and
		// a poison message is delivered maxDeliveries (3) times,
		// redelivered 2: released - redelivered = poison.
		if c.Released == 0 || c.Released-c.Redelivered != c.PoisonAcked {
			t.Errorf("released %d, redelivered %d, poison %d: want released - redelivered = poison", c.Released, c.Redelivered, c.PoisonAcked)
		}
		// Where the system counts dead letters, every shard's poison
		// ends there (-1: it has no dead-letter destination).
		if c.DeadLettered >= 0 && c.DeadLettered != c.PoisonAcked {
			t.Errorf("dead-lettered %d of %d poison messages", c.DeadLettered, c.PoisonAcked)
		}
		var released int64
		for i := range 3 {
			released += shardResultOf(t, out, i).Counts.Released
		}
		if released != c.Released {
			t.Errorf("shards released %d, merged %d", released, c.Released)
		}
		if merged.Verdict == nil || merged.Verdict.Valid != "valid" {
			t.Errorf("merged history verdict %+v, want valid", merged.Verdict)
		}
	})
}

// TestLocalWorkersBacklog runs a backlog workload as three worker
// processes: the merged backlog phase has the shards' common instants
// (consumers started together when the summed backlog reached its size;
// measuring started when it fell to the floor) and their summed counts,
// and every message is received once. Redis and NATS refuse it.
func TestLocalWorkersBacklog(t *testing.T) {
	eachLocalSystem(t, "build and drain a backlog", func(t *testing.T, tt localSystem) {
		file := writeFile(t, "w.yaml", fmt.Sprintf(`defaults:
  topics: 1
  messageSize: 1024
  duration: 1s
  delivery:
    startFrom: earliest
workloads:
  - name: distbacklog
    partitionsPerTopic: %d
    producersPerTopic: 3
    consumerPerSubscription: 3
    producerRate: 3000
    consumerBacklogSizeGB: 0.00390625
    backlogDrainRatio: 1.0
    thresholds: {lost: "== 0"}
`, tt.partitions))
		if tt.takeover {
			refusedSharded(t, file, "distbacklog", tt.system)
			return
		}
		out, _, merged := runLocalWorkers(t, tt.system, file, "distbacklog")
		var sum results.BacklogPhase
		for i := range 3 {
			b := shardResultOf(t, out, i).BacklogPhase
			if b == nil {
				t.Fatalf("shard %d: no backlog phase", i)
			}
			if i == 0 {
				sum.Built, sum.Drained = b.Built, b.Drained
			}
			if !b.Built.Equal(sum.Built) || !b.Drained.Equal(sum.Drained) {
				t.Errorf("shard %d built %v drained %v, shard 0 %v %v: want common instants", i, b.Built, b.Drained, sum.Built, sum.Drained)
			}
			sum.BuiltMessages += b.BuiltMessages
			sum.LeftMessages += b.LeftMessages
			sum.Consumed += b.Consumed
		}
		if b := merged.BacklogPhase; b == nil || *b != sum {
			t.Errorf("merged backlog phase %+v, want the shards' instants and summed counts %+v", b, sum)
		}
		if sum.BuiltMessages < 4096 || sum.DrainSeconds() <= 0 || sum.DrainRate() <= 0 {
			t.Errorf("backlog phase %+v: want at least 4096 messages built and a drain time and rate", sum)
		}
		t.Logf("%s: built %d, drained to %d in %.2fs at %.0f msg/s", tt.system, sum.BuiltMessages, sum.LeftMessages, sum.DrainSeconds(), sum.DrainRate())
		if c := merged.Counts; c.Sent == 0 || c.Acked != c.Sent || c.Received != c.Sent || c.Lost != 0 || c.Duplicates != 0 {
			t.Errorf("merged counts %+v: want every sent message received once", c)
		}
	})
}

// TestLocalWorkersChurn runs a consumer-churn workload as three worker
// processes: each shard churns its own consumers on the common schedule,
// round robin over the subscription's consumers of every shard, so the
// merged events show one consumer leaving per interval in the order one
// machine would churn them, and nothing is lost. Redis and NATS refuse
// it.
func TestLocalWorkersChurn(t *testing.T) {
	eachLocalSystem(t, "a 3.5-second churn workload", func(t *testing.T, tt localSystem) {
		file := writeFile(t, "w.yaml", fmt.Sprintf(`defaults:
  topics: 1
  messageSize: 256
  warmup: 1s
  duration: 3500ms
  delivery:
    commitMode: interval
    commitInterval: 200ms
    startFrom: earliest
workloads:
  - name: distchurn
    partitionsPerTopic: %d
    producersPerTopic: 3
    consumerPerSubscription: 3
    producerRate: 600
    churn:
      interval: 1s
    thresholds: {lost: "== 0"}
`, tt.partitions))
		if tt.takeover {
			refusedSharded(t, file, "distchurn", tt.system)
			return
		}
		_, _, merged := runLocalWorkers(t, tt.system, file, "distchurn")
		var leaves []string
		for _, e := range merged.Events {
			if e.Kind == "consumer-leave" {
				leaves = append(leaves, e.Consumer)
			}
		}
		// Ticks at 1s, 2s and 3s of the 3.5s measured phase (the last
		// may fall after the end on a loaded machine).
		if len(leaves) < 2 || len(leaves) > 3 {
			t.Fatalf("%d consumers left (%v), want one per interval: 3", len(leaves), leaves)
		}
		for k, id := range leaves {
			if want := fmt.Sprintf("-c%d", k%3); !strings.HasSuffix(id, want) {
				t.Errorf("leave %d was %s, want consumer %s (round robin over every shard's consumers)", k, id, want)
			}
		}
		if c := merged.Counts; c.Sent == 0 || c.Acked != c.Sent || c.Lost != 0 {
			t.Errorf("merged counts %+v: want nothing lost", c)
		}
	})
}
