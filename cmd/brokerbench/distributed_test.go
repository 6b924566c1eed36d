package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/results"
)

// distWorkload is a workload for three shards: three producers and three
// consumers, so every shard both sends and receives, and a history.
func distWorkload(t *testing.T, name string, partitions int) string {
	return writeFile(t, "w.yaml", fmt.Sprintf(`defaults:
  topics: 1
  messageSize: 256
  warmup: 1s
  duration: 3s
  delivery:
    acks: all
    linger: 1ms
    commitMode: interval
    commitInterval: 1s
    startFrom: earliest
workloads:
  - name: %s
    partitionsPerTopic: %d
    producersPerTopic: 3
    consumerPerSubscription: 3
    producerRate: 600
    history: true
    thresholds: {lost: "== 0", duplicates: "== 0"}
`, name, partitions))
}

func requireLoopback(t *testing.T, what, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s on %s is required under CI=true: %v", what, addr, err)
		}
		t.Skipf("%s is not running on %s: %v", what, addr, err)
	}
	c.Close()
}

// TestLocalWorkersMergeExactly runs a workload as three worker processes
// against real systems and checks the promise: merged counts
// equal messages sent and received, merged percentiles equal those of the
// union of the shards' values, one history the checker accepts, and a
// gate verdict on the whole.
func TestLocalWorkersMergeExactly(t *testing.T) {
	eachLocalSystem(t, "a 4-second workload", func(t *testing.T, tt localSystem) {
		file := distWorkload(t, "dist", tt.partitions)
		out, stdout, merged := runLocalWorkers(t, tt.system, file, "dist")
		if !strings.Contains(stdout, "gate: passed") {
			t.Errorf("no gate verdict on the merged run:\n%s", stdout)
		}
		c := merged.Counts
		if c.Sent == 0 || c.Acked != c.Sent || c.Received != c.Sent || c.Lost != 0 || c.Duplicates != 0 {
			t.Errorf("merged counts %+v: want received = acked = sent > 0, nothing lost or duplicated", c)
		}
		if merged.Verdict == nil || merged.Verdict.Valid != "valid" {
			t.Errorf("merged history verdict %+v, want valid", merged.Verdict)
		}
		checkUnion(t, out, merged)
		if tt.system == "refbroker" {
			checkMergeCommand(t, file, out, merged)
		}
	})
}

// checkUnion compares the merged summaries with those of one histogram
// holding every shard's values, and the summed counts with the shards'.
func checkUnion(t *testing.T, out string, merged *results.Result) {
	t.Helper()
	pub, e2e := metrics.NewHistogram(), metrics.NewHistogram()
	var sent int64
	for i := range 3 {
		s := shardResultOf(t, out, i)
		if s.Shard == nil || s.Shard.Index != i || s.Shard.Count != 3 {
			t.Fatalf("shard %d result marked %+v", i, s.Shard)
		}
		if s.Counts.Sent == 0 {
			t.Errorf("shard %d sent nothing: the load was not split", i)
		}
		sent += s.Counts.Sent
		for _, x := range []struct {
			dst *hdrhistogram.Histogram
			enc string
		}{{pub, s.Histograms.PublishFromSend}, {e2e, s.Histograms.EndToEndFromSend}} {
			h, err := metrics.Decode(x.enc)
			if err != nil {
				t.Fatal(err)
			}
			x.dst.Merge(h)
		}
	}
	if sent != merged.Counts.Sent {
		t.Errorf("shards sent %d, merged result says %d", sent, merged.Counts.Sent)
	}
	if got, want := merged.Latency.PublishFromSend, metrics.Summarize(pub); got != want {
		t.Errorf("merged publish latency %+v, union of shards %+v", got, want)
	}
	if got, want := merged.Latency.EndToEndFromSend, metrics.Summarize(e2e); got != want {
		t.Errorf("merged end-to-end latency %+v, union of shards %+v", got, want)
	}
}

// TestLocalWorkerFailureFailsRun kills one worker while it measures: the
// run must fail, naming the shard and why, and the other workers must be
// stopped.
func TestLocalWorkerFailureFailsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("three worker processes; skipped in -short mode")
	}
	t.Setenv(asCLIEnv, "1")
	file := distWorkload(t, "dist", 6)
	checkKilledShardFails(t, []string{"run", "--workloads", file, "--local-workers", "3", "--no-report", "--no-progress", "--duration", "20s"}, 1)
}

// checkKilledShardFails runs args (a `run --local-workers 3`), kills
// shard 1's process once it has started measuring for the measuring-th
// time, and checks that the run fails naming the shard and why, and that
// the other shards were aborted.
func checkKilledShardFails(t *testing.T, args []string, measuring int) {
	t.Helper()
	out := t.TempDir()
	var stdout, errBuf bytes.Buffer
	stderr := &lockedWriter{w: &errBuf}
	stderrText := func() string {
		stderr.mu.Lock()
		defer stderr.mu.Unlock()
		return errBuf.String()
	}
	done := make(chan int, 1)
	go func() {
		done <- execute(context.Background(), append(args, "--out", out), &stdout, stderr)
	}()
	pidRE := regexp.MustCompile(`msg="worker started" shard=1/3 pid=(\d+)`)
	shardLog := filepath.Join(out, "shards", "shard-1.log")
	deadline := time.Now().Add(90 * time.Second)
	killed := false
	for !killed && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		m := pidRE.FindStringSubmatch(stderrText())
		log, _ := os.ReadFile(shardLog)
		if m == nil || bytes.Count(log, []byte("msg=measuring")) < measuring {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill worker %d: %v", pid, err)
		}
		killed = true
	}
	if !killed {
		t.Fatalf("shard 1 never started measuring %d times\nstderr:\n%s", measuring, stderrText())
	}
	select {
	case code := <-done:
		if code != exitFailed {
			t.Errorf("exit %d, want %d", code, exitFailed)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("the run did not end after a worker died\nstderr:\n%s", stderrText())
	}
	for _, want := range []string{"shard 1/3 failed", "killed"} {
		if !strings.Contains(stderrText(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderrText())
		}
	}
	for _, i := range []int{0, 2} {
		log, _ := os.ReadFile(filepath.Join(out, "shards", fmt.Sprintf("shard-%d.log", i)))
		if !bytes.Contains(log, []byte("aborted by the coordinator")) {
			t.Errorf("shard %d was not aborted:\n%s", i, log)
		}
	}
}

// checkMergeCommand merges the shard folders again with brokerbench merge:
// the same counts, latencies and a valid history; a missing shard is a
// clear error.
func checkMergeCommand(t *testing.T, file, out string, want *results.Result) {
	t.Helper()
	shards := filepath.Join(out, "shards")
	again := t.TempDir()
	code, stdout, stderr := run(t, "merge", "--workloads", file, "--out", again, "--no-report", "--gate", "--allow-degraded",
		filepath.Join(shards, "shard-0"), filepath.Join(shards, "shard-1"), filepath.Join(shards, "shard-2"))
	if code != exitOK || !strings.Contains(stdout, "gate: passed") {
		t.Fatalf("merge: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	got, err := results.Read(filepath.Join(again, results.FileName("dist", want.Driver)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts != want.Counts || got.Latency != want.Latency {
		t.Errorf("merge command: counts %+v latency %+v\nrun's merge: counts %+v latency %+v", got.Counts, got.Latency, want.Counts, want.Latency)
	}
	if got.Verdict == nil || got.Verdict.Valid != "valid" {
		t.Errorf("merge command: history verdict %+v, want valid", got.Verdict)
	}
	code, _, stderr = run(t, "merge", "--workloads", file, "--out", t.TempDir(), "--no-report",
		filepath.Join(shards, "shard-0"), filepath.Join(shards, "shard-2"))
	if code == exitOK || !strings.Contains(stderr, "missing shard(s) 1 of 3") {
		t.Errorf("merge without shard 1: exit %d, stderr %s", code, stderr)
	}
}

// TestDistributedUsageErrors: bad shard settings fail before anything
// starts, saying what is wrong and how to fix it.
func TestDistributedUsageErrors(t *testing.T) {
	// Should a case start workers after all, they must run as the CLI,
	// not as this test binary running every test again in each worker.
	t.Setenv(asCLIEnv, "1")
	file := distWorkload(t, "dist", 2)
	churn := writeFile(t, "c.yaml", "workloads:\n  - name: c\n    consumerPerSubscription: 2\n    churn: {interval: 1s}\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad shard", nil, []string{"run", "--workloads", file, "--shard", "3/3"}, "want 0 <= index < count"},
		{"no run id", nil, []string{"run", "--workloads", file, "--shard", "0/3"}, "--run-id"},
		{"index without count", map[string]string{"JOB_COMPLETION_INDEX": "1"}, []string{"run", "--workloads", file}, "BROKERBENCH_SHARDS"},
		{"shard and coordinator", nil, []string{"run", "--workloads", file, "--shard", "0/2", "--local-workers", "2"}, "exclude each other"},
		{"search flags on a shard", nil, []string{"run", "--workloads", file, "--shard", "0/2", "--run-id", "r", "--probe-duration", "1s"}, "go to the coordinator"},
		{"churn on nats", nil, []string{"run", "--workloads", churn, "--system", "nats", "--local-workers", "2"}, "workload c on nats cannot run sharded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, _, stderr := run(t, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q: want usage error containing %q", code, stderr, tt.want)
			}
		})
	}
}
