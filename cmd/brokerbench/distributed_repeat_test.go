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

// TestLocalWorkersRepeat runs a short fixed-rate workload with --repeat 2
// as two worker processes: each repetition is one complete sharded run
// (its own run id, so its own topics and rendezvous), merged on its own,
// and the two merged results carry their repetition and the group's
// summary as one machine's repetitions do, with the confidence interval
// in the printed summary and gate checks named per repetition. `merge` of
// the shard folders gives the same results.
func TestLocalWorkersRepeat(t *testing.T) {
	eachLocalSystem(t, "two 2-second repetitions", func(t *testing.T, tt localSystem) {
		file := writeFile(t, "w.yaml", fmt.Sprintf(`workloads:
  - name: rep
    topics: 1
    partitionsPerTopic: %d
    producersPerTopic: 2
    consumerPerSubscription: 2
    producerRate: 400
    messageSize: 128
    warmup: 500ms
    duration: 1500ms
    history: true
    thresholds: {lost: "== 0", duplicates: "== 0"}
`, tt.partitions))
		out := t.TempDir()
		junit := filepath.Join(t.TempDir(), "junit.xml")
		code, stdout, stderr := run(t, "run", "--workloads", file, "--system", tt.system, "--local-workers", "2", "--repeat", "2",
			"--out", out, "--no-report", "--gate", "--allow-degraded", "--no-progress", "--junit", junit)
		if code != exitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		for _, want := range []string{"Mean ± 95% confidence half-width over repetitions:", "gate: passed"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("summary lacks %q:\n%s", want, stdout)
			}
		}
		if j, err := os.ReadFile(junit); err != nil || !strings.Contains(string(j), "(repetition 2 of 2)") {
			t.Errorf("JUnit checks not named per repetition (%v):\n%s", err, j)
		}
		runIDs := map[string]bool{}
		merged := make([]*results.Result, 2)
		for k := range 2 {
			m := readRepetition(t, out, tt.system, k+1)
			merged[k] = m
			var sent, received int64
			for i := range 2 {
				s, err := results.Read(filepath.Join(out, "shards", fmt.Sprintf("shard-%d", i), m.Repeat.FileName("rep", tt.system)))
				if err != nil {
					t.Fatal(err)
				}
				if s.Shard == nil || s.Repeat == nil || s.Repeat.Index != k+1 {
					t.Fatalf("shard %d of repetition %d: shard %+v repeat %+v", i, k+1, s.Shard, s.Repeat)
				}
				runIDs[s.Shard.RunID] = true
				sent += s.Counts.Sent
				received += s.Counts.Received
			}
			c := m.Counts
			t.Logf("%s repetition %d merged counts %+v", tt.system, k+1, c)
			if c.Sent == 0 || c.Sent != sent || c.Received != received || c.Acked != c.Sent || c.Received != c.Sent || c.Lost != 0 || c.Duplicates != 0 {
				t.Errorf("repetition %d: merged counts %+v, shards sent %d and received %d: want the shards' sums, every message once", k+1, c, sent, received)
			}
			if m.Verdict == nil || m.Verdict.Valid != "valid" {
				t.Errorf("repetition %d: merged history verdict %+v, want valid", k+1, m.Verdict)
			}
		}
		if len(runIDs) != 2 {
			t.Errorf("shard run ids %v: want one per repetition", runIDs)
		}
		if f := merged[0].Repeat.Summary["publishRate"]; f.N != 2 || len(f.Values) != 2 || !f.HasInterval() {
			t.Errorf("publishRate summary %+v: want both repetitions' values and an interval", f)
		}
		if tt.system == "refbroker" {
			checkMergeRepetitions(t, file, out, merged)
		}
	}, "refbroker", "redis")
}

// readRepetition reads the merged result of repetition k of 2 and checks
// its repetition and summary.
func readRepetition(t *testing.T, out, system string, k int) *results.Result {
	t.Helper()
	rep := &results.Repeat{Index: k, Of: 2}
	m, err := results.Read(filepath.Join(out, rep.FileName("rep", system)))
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Repeat; r == nil || r.Index != k || r.Of != 2 || len(r.Files) != 2 || len(r.Summary) == 0 {
		t.Fatalf("merged repetition %d: repeat %+v, want %d of 2 with the group's files and summary", k, r, k)
	}
	return m
}

// checkMergeRepetitions merges the shard folders again with brokerbench
// merge: one result per repetition, with the run's counts.
func checkMergeRepetitions(t *testing.T, file, out string, want []*results.Result) {
	t.Helper()
	again := t.TempDir()
	code, stdout, stderr := run(t, "merge", "--workloads", file, "--out", again, "--no-report", "--gate", "--allow-degraded",
		filepath.Join(out, "shards", "shard-0"), filepath.Join(out, "shards", "shard-1"))
	if code != exitOK || !strings.Contains(stdout, "Mean ± 95% confidence half-width over repetitions:") {
		t.Fatalf("merge: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for k, w := range want {
		got := readRepetition(t, again, w.Driver, k+1)
		if got.Counts != w.Counts || got.Latency != w.Latency {
			t.Errorf("merge command, repetition %d: counts %+v latency %+v\nrun's merge: counts %+v latency %+v", k+1, got.Counts, got.Latency, w.Counts, w.Latency)
		}
	}
}

// TestCheckRepetitions: a coordinator of running workers refuses merged
// results of another repetition count than its own --repeat.
func TestCheckRepetitions(t *testing.T) {
	two := &results.Result{Workload: "w", Driver: "d", Repeat: &results.Repeat{Index: 1, Of: 2}}
	// A search's result is one of one whatever the count.
	search := &results.Result{Workload: "s", Driver: "d", Capacity: &capacity.Record{}}
	tests := []struct {
		name    string
		merged  []*results.Result
		repeat  int
		wantErr bool
	}{
		{"single runs", []*results.Result{{Workload: "w", Driver: "d"}}, 1, false},
		{"as asked", []*results.Result{two}, 2, false},
		{"shards repeated, coordinator not", []*results.Result{two}, 1, true},
		{"coordinator repeated, shards not", []*results.Result{{Workload: "w", Driver: "d"}}, 3, true},
		{"search", []*results.Result{search, two}, 2, false},
	}
	for _, tt := range tests {
		err := checkRepetitions(tt.merged, tt.repeat)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}

// TestLocalWorkerFailureInRepetitionFailsRun kills one worker while it
// measures the second repetition: the run fails with that shard's reason,
// and the other workers are stopped.
func TestLocalWorkerFailureInRepetitionFailsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("three worker processes, two repetitions; skipped in -short mode")
	}
	t.Setenv(asCLIEnv, "1")
	file := distWorkload(t, "dist", 6)
	checkKilledShardFails(t, []string{"run", "--workloads", file, "--local-workers", "3", "--repeat", "2", "--no-report", "--no-progress", "--duration", "5s"}, 2)
}
