package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/capacity"
	"github.com/brokerbench/brokerbench/results"
)

// searchDistWorkload is a saturation search for three shards with short
// probes: 300 and 600 msg/s (the ceiling) and the confirmation, under an
// objective a busy 2-core machine meets.
func searchDistWorkload(t *testing.T, partitions int) string {
	return writeFile(t, "s.yaml", `workloads:
  - name: cap
    partitionsPerTopic: `+fmt.Sprint(partitions)+`
    producersPerTopic: 3
    consumerPerSubscription: 3
    messageSize: 256
    maxRate:
      latency: {percentile: 99, below: 2s}
      start: 300
      max: 600
    thresholds: {lost: "== 0"}
`)
}

// searchTestFlags are the flags that keep a test search short.
var searchTestFlags = []string{"--probe-duration", "1s", "--probe-warmup", "500ms", "--search-budget", "30s"}

// TestLocalWorkersSearch runs a saturation search as three worker
// processes on refbroker and Redis: the coordinator runs the search, and
// the merged result is a search result as one machine writes it (the
// search record, the kept confirmation's figures, which are the shards'
// summed), on which the gate, brokerbench merge of the shard folders and
// brokerbench report work. distributed.TestShardedSearchInProcess checks
// every probe against the shards' probe results.
func TestLocalWorkersSearch(t *testing.T) {
	// refbroker and Redis cover the sharded search (12s each); the
	// fixed-rate tests cover every system's sharding.
	eachLocalSystem(t, "a search of three 3-second probes", func(t *testing.T, tt localSystem) {
		file := searchDistWorkload(t, tt.partitions)
		out, stdout, merged := runLocalWorkers(t, tt.system, file, "cap", searchTestFlags...)
		if !strings.Contains(stdout, "gate: passed") || !strings.Contains(stdout, "highest rate meeting") {
			t.Errorf("no gate verdict or search table on the merged run:\n%s", stdout)
		}
		rec := merged.Capacity
		if rec == nil || len(rec.Repetitions) != 1 {
			t.Fatalf("merged result has search record %+v, want one repetition", rec)
		}
		run := rec.Repetitions[0]
		var last capacity.Probe
		for _, p := range run.Probes {
			if p.Phase == capacity.PhaseConfirm {
				last = p
			}
		}
		if run.Found <= 0 || !run.Confirmed || !last.Passed() || last.Offered != run.Found {
			t.Fatalf("search found %v confirmed %v, last confirmation %+v: want a confirmed rate", run.Found, run.Confirmed, last)
		}
		// The result's figures are the confirmation's: its recorded
		// achieved rate is the merged shards' measured publish rate.
		if got, _ := merged.MeasuredPublishRate(); got != last.Achieved {
			t.Errorf("merged publish rate %v, the record's confirmation achieved %v", got, last.Achieved)
		}
		var sent, received int64
		for i := range 3 {
			s := shardResultOf(t, out, i)
			if s.Capacity == nil || s.Shard == nil {
				t.Fatalf("shard %d result without its search record or shard: %+v", i, s.Shard)
			}
			sent, received = sent+s.Counts.Sent, received+s.Counts.Received
		}
		if c := merged.Counts; c.Sent == 0 || c.Sent != sent || c.Received != received || c.Lost != 0 {
			t.Errorf("merged counts %+v, shards sent %d received %d: want the sums, nothing lost", c, sent, received)
		}
		if tt.system == "refbroker" {
			checkSearchMerge(t, file, out, merged)
		}
	}, "refbroker", "redis")
}

// checkSearchMerge merges the shard folders again with brokerbench merge
// (the same search record and figures, gated) and draws the report.
func checkSearchMerge(t *testing.T, file, out string, want *results.Result) {
	t.Helper()
	shards := filepath.Join(out, "shards")
	again := t.TempDir()
	code, stdout, stderr := run(t, "merge", "--workloads", file, "--out", again, "--gate", "--allow-degraded",
		filepath.Join(shards, "shard-0"), filepath.Join(shards, "shard-1"), filepath.Join(shards, "shard-2"))
	if code != exitOK || !strings.Contains(stdout, "gate: passed") {
		t.Fatalf("merge: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	got, err := results.Read(filepath.Join(again, results.FileName("cap", want.Driver)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts != want.Counts || got.Latency != want.Latency || got.Capacity.Found != want.Capacity.Found ||
		len(got.Capacity.Probes()) != len(want.Capacity.Probes()) {
		t.Errorf("merge command: counts %+v found %+v\nrun's merge: counts %+v found %+v", got.Counts, got.Capacity.Found, want.Counts, want.Capacity.Found)
	}
	if _, err := os.Stat(filepath.Join(again, "report", "index.html")); err != nil {
		t.Errorf("merge drew no report: %v", err)
	}
	code, _, stderr = run(t, "report", "--in", out, "--out", filepath.Join(t.TempDir(), "report"))
	if code != exitOK {
		t.Errorf("report: exit %d\n%s", code, stderr)
	}
}

// TestLocalWorkerFailureFailsSearch kills one worker during the second
// probe of a sharded search: the search fails with that shard's reason,
// and the other workers are stopped.
func TestLocalWorkerFailureFailsSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("three worker processes; skipped in -short mode")
	}
	t.Setenv(asCLIEnv, "1")
	file := searchDistWorkload(t, 6)
	checkKilledShardFails(t, append([]string{"run", "--workloads", file, "--local-workers", "3", "--no-report", "--no-progress"}, searchTestFlags...), 2)
}
