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
	if testing.Short() {
		t.Skip("three worker processes run a 4-second workload; skipped in -short mode")
	}
	t.Setenv(asCLIEnv, "1")
	tests := []struct {
		system     string
		partitions int
		addr       string // a shared server the system needs; "" for refbroker
	}{
		{"refbroker", 6, ""},
		{"redis", 1, "127.0.0.1:6379"},
		{"rabbitmq", 1, "127.0.0.1:5672"},
		{"nats", 1, "127.0.0.1:4222"},
	}
	for _, tt := range tests {
		t.Run(tt.system, func(t *testing.T) {
			if tt.addr != "" {
				requireLoopback(t, tt.system, tt.addr)
			}
			file := distWorkload(t, "dist", tt.partitions)
			out := t.TempDir()
			code, stdout, stderr := run(t, "run", "--workloads", file, "--system", tt.system, "--local-workers", "3",
				"--out", out, "--no-report", "--gate", "--allow-degraded", "--no-progress")
			if code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, "gate: passed") {
				t.Errorf("no gate verdict on the merged run:\n%s", stdout)
			}
			merged, err := results.Read(filepath.Join(out, results.FileName("dist", tt.system)))
			if err != nil {
				t.Fatal(err)
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
}

// checkUnion compares the merged summaries with those of one histogram
// holding every shard's values, and the summed counts with the shards'.
func checkUnion(t *testing.T, out string, merged *results.Result) {
	t.Helper()
	pub, e2e := metrics.NewHistogram(), metrics.NewHistogram()
	var sent int64
	for i := range 3 {
		rs, _, err := results.ReadDir(filepath.Join(out, "shards", fmt.Sprintf("shard-%d", i)))
		if err != nil || len(rs) != 1 {
			t.Fatalf("shard %d: %d results, %v", i, len(rs), err)
		}
		s := rs[0]
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
		done <- execute(context.Background(), []string{"run", "--workloads", file, "--local-workers", "3",
			"--out", out, "--no-report", "--no-progress", "--duration", "20s"}, &stdout, stderr)
	}()
	pidRE := regexp.MustCompile(`msg="worker started" shard=1/3 pid=(\d+)`)
	shardLog := filepath.Join(out, "shards", "shard-1.log")
	deadline := time.Now().Add(60 * time.Second)
	killed := false
	for !killed && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		m := pidRE.FindStringSubmatch(stderrText())
		log, _ := os.ReadFile(shardLog)
		if m == nil || !bytes.Contains(log, []byte("msg=measuring")) {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill worker %d: %v", pid, err)
		}
		killed = true
	}
	if !killed {
		t.Fatalf("shard 1 never started measuring\nstderr:\n%s", stderrText())
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
	file := distWorkload(t, "dist", 2)
	queue := writeFile(t, "q.yaml", "workloads:\n  - name: q\n    queue: {}\n")
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
		{"repeat", nil, []string{"run", "--workloads", file, "--local-workers", "2", "--repeat", "3"}, "--repeat 3"},
		{"queue workload", nil, []string{"run", "--workloads", queue, "--local-workers", "2"}, "queue cannot run sharded yet"},
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

// TestLocalWorkersQueue runs a queue workload (competing consumers that
// release 10% of first deliveries and never accept 1% poison messages) as
// three worker processes: the consumers of every shard compete for the
// same queues, and the merged result counts each acknowledged message
// processed once, releases and redeliveries summed, poison not lost, and a
// history the queue model accepts.
func TestLocalWorkersQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("three worker processes run a 3-second queue workload; skipped in -short mode")
	}
	t.Setenv(asCLIEnv, "1")
	tests := []struct {
		system string
		addr   string // a shared server the system needs; "" for refbroker
	}{
		{"refbroker", ""},
		{"redis", "127.0.0.1:6379"},
		{"rabbitmq", "127.0.0.1:5672"},
		{"nats", "127.0.0.1:4222"},
	}
	for _, tt := range tests {
		t.Run(tt.system, func(t *testing.T) {
			if tt.addr != "" {
				requireLoopback(t, tt.system, tt.addr)
			}
			file := writeFile(t, "w.yaml", `defaults:
  topics: 1
  messageSize: 256
  warmup: 1s
  duration: 2s
workloads:
  - name: distq
    partitionsPerTopic: 2
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
`)
			out := t.TempDir()
			code, stdout, stderr := run(t, "run", "--workloads", file, "--system", tt.system, "--local-workers", "3",
				"--out", out, "--no-report", "--gate", "--allow-degraded", "--no-progress")
			if code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			merged, err := results.Read(filepath.Join(out, results.FileName("distq", tt.system)))
			if err != nil {
				t.Fatal(err)
			}
			c := merged.Counts
			t.Logf("%s merged counts %+v", tt.system, c)
			// Each accepted message is counted received once: the
			// acknowledged ones less the poison, which are never accepted.
			if c.Acked == 0 || c.Received != c.Acked-c.PoisonAcked || c.Lost != 0 || c.Duplicates != 0 {
				t.Errorf("merged counts %+v: want every acknowledged message but the poison received once", c)
			}
			// As on one machine, a "release once" message is released once
			// and redelivered once, whichever shards' consumers get it (a
			// shard knows a redelivery from the system's flag), and a poison
			// message is delivered maxDeliveries (3) times, redelivered 2:
			// released - redelivered = poison.
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
				rs, _, err := results.ReadDir(filepath.Join(out, "shards", fmt.Sprintf("shard-%d", i)))
				if err != nil || len(rs) != 1 {
					t.Fatalf("shard %d: %d results, %v", i, len(rs), err)
				}
				released += rs[0].Counts.Released
			}
			if released != c.Released {
				t.Errorf("shards released %d, merged %d", released, c.Released)
			}
			if merged.Verdict == nil || merged.Verdict.Valid != "valid" {
				t.Errorf("merged history verdict %+v, want valid", merged.Verdict)
			}
		})
	}
}

// TestLocalWorkersChurn runs a consumer-churn workload as three worker
// processes: each shard churns its own consumers on the common schedule,
// round robin over the subscription's consumers of every shard, so the
// merged events show one consumer leaving per interval in the order one
// machine would churn them, and nothing is lost.
func TestLocalWorkersChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("three worker processes run a 3.5-second churn workload; skipped in -short mode")
	}
	t.Setenv(asCLIEnv, "1")
	tests := []struct {
		system     string
		partitions int
		addr       string // a shared server the system needs; "" for refbroker
	}{
		{"refbroker", 6, ""},
		{"redis", 1, "127.0.0.1:6379"},
		{"rabbitmq", 1, "127.0.0.1:5672"},
	}
	for _, tt := range tests {
		t.Run(tt.system, func(t *testing.T) {
			if tt.addr != "" {
				requireLoopback(t, tt.system, tt.addr)
			}
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
			out := t.TempDir()
			code, stdout, stderr := run(t, "run", "--workloads", file, "--system", tt.system, "--local-workers", "3",
				"--out", out, "--no-report", "--gate", "--allow-degraded", "--no-progress")
			if code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			merged, err := results.Read(filepath.Join(out, results.FileName("distchurn", tt.system)))
			if err != nil {
				t.Fatal(err)
			}
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
}

// TestLocalWorkersBacklog runs a backlog workload as three worker
// processes against real systems: the merged result's backlog phase has
// the shards' common instants (consumers started together when the summed
// backlog reached its size; measuring started when it fell to the floor)
// and their summed counts, and every message is received.
func TestLocalWorkersBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("three worker processes build and drain a backlog; skipped in -short mode")
	}
	t.Setenv(asCLIEnv, "1")
	tests := []struct {
		system     string
		partitions int
		addr       string // a shared server the system needs; "" for refbroker
	}{
		{"refbroker", 6, ""},
		{"redis", 1, "127.0.0.1:6379"},
		{"rabbitmq", 1, "127.0.0.1:5672"},
		{"nats", 1, ""}, // refused: see shardTakeover
	}
	for _, tt := range tests {
		t.Run(tt.system, func(t *testing.T) {
			if tt.addr != "" {
				requireLoopback(t, tt.system, tt.addr)
			}
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
			out := t.TempDir()
			code, stdout, stderr := run(t, "run", "--workloads", file, "--system", tt.system, "--local-workers", "3",
				"--out", out, "--no-report", "--gate", "--allow-degraded", "--no-progress")
			if tt.system == "nats" {
				if code != exitUsage || !strings.Contains(stderr, "workload distbacklog on nats cannot run sharded") {
					t.Fatalf("exit %d, stderr:\n%s\nwant the usage error saying why", code, stderr)
				}
				return
			}
			if code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			merged, err := results.Read(filepath.Join(out, results.FileName("distbacklog", tt.system)))
			if err != nil {
				t.Fatal(err)
			}
			var sum results.BacklogPhase
			for i := range 3 {
				rs, _, err := results.ReadDir(filepath.Join(out, "shards", fmt.Sprintf("shard-%d", i)))
				if err != nil || len(rs) != 1 || rs[0].BacklogPhase == nil {
					t.Fatalf("shard %d: %d results, %v", i, len(rs), err)
				}
				b := rs[0].BacklogPhase
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
			if c := merged.Counts; c.Sent == 0 || c.Acked != c.Sent || c.Received != c.Sent || c.Lost != 0 {
				t.Errorf("merged counts %+v: want every sent message received", c)
			}
		})
	}
}
