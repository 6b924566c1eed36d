package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/results"
)

func reasonCodes(r *results.Result) []string {
	var out []string
	for _, x := range r.StatusReasons {
		out = append(out, x.Code)
	}
	return out
}

// TestRunEverySendFailsIsFailed: messages larger than the Kafka client
// allows (kgo's 1 MB batch limit) fail every send client-side with
// MESSAGE_TOO_LARGE. The run must come out failed, with the reason, and
// fail the gate with exit 1 and a JUnit failure, never "ok" at 0 msg/s.
func TestRunEverySendFailsIsFailed(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "toolarge.yaml", `workloads:
  - name: too-large
    messageSize: 2097152
    producerRate: 20
    warmup: 0s
    duration: 1s
    delivery: {maxInFlight: 2}
`)
	out := t.TempDir()
	junit := filepath.Join(t.TempDir(), "junit.xml")
	code, stdout, stderr := run(t, "run", "--workloads", file, "--out", out, "--no-progress", "--no-report", "--gate", "--junit", junit)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r, err := results.Read(filepath.Join(out, "too-large.refbroker.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != results.StatusFailed || !slices.Contains(reasonCodes(r), results.ReasonAllSendsFailed) || r.Counts.Failed == 0 || r.Counts.Acked != 0 {
		t.Errorf("status %s reasons %+v counts %+v", r.Status, r.StatusReasons, r.Counts)
	}
	for _, want := range []string{"GATE FAILED: too-large on refbroker: run: failed", "all-sends-failed", "too-large on refbroker is failed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if x, err := os.ReadFile(junit); err != nil || !strings.Contains(string(x), "all-sends-failed") {
		t.Errorf("junit: %v\n%s", err, x)
	}
}

// TestRunUnreachableRateIsDegraded: an open-loop rate no single producer
// with one send in flight can reach comes out degraded
// (rate-below-offered), fails --gate, and passes with --allow-degraded.
func TestRunUnreachableRateIsDegraded(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "fast.yaml", `workloads:
  - name: unreachable
    producerRate: 10000000
    warmup: 0s
    duration: 2s
    delivery: {maxInFlight: 1}
`)
	out := t.TempDir()
	code, stdout, stderr := run(t, "run", "--workloads", file, "--out", out, "--no-progress", "--no-report", "--gate", "--drain-timeout", "10s")
	if code != exitFailed || !strings.Contains(stdout, "GATE FAILED: unreachable on refbroker: run: degraded") {
		t.Fatalf("exit %d, want 1 and a failed run check\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r, err := results.Read(filepath.Join(out, "unreachable.refbroker.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != results.StatusDegraded || !slices.Contains(reasonCodes(r), results.ReasonRateBelowOffered) || r.OfferedRate != 1e7 {
		t.Errorf("status %s reasons %+v offered %g", r.Status, r.StatusReasons, r.OfferedRate)
	}
	if !strings.Contains(stdout, "10000000") || !strings.Contains(stdout, "rate-below-offered") {
		t.Errorf("summary lacks the offered rate or the reason:\n%s", stdout)
	}
	code, stdout, stderr = run(t, "run", "--workloads", file, "--out", t.TempDir(), "--no-progress", "--no-report", "--gate", "--allow-degraded", "--drain-timeout", "10s")
	if code != exitOK || !strings.Contains(stdout, "gate: passed") {
		t.Errorf("--allow-degraded: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestRunChecksOutBeforeRunning: an --out that cannot be written is a
// usage error (exit 2) before any run, not a lost first run.
func TestRunChecksOutBeforeRunning(t *testing.T) {
	t.Parallel()
	// A folder under a regular file cannot be created, even by root.
	blocker := writeFile(t, "file", "not a folder")
	code, stdout, stderr := run(t, "run", "--workloads", "../../workloads.yaml", "--workload", "smoke", "--out", filepath.Join(blocker, "results"), "--no-progress")
	if code != exitUsage || !strings.Contains(stderr, "results folder") || !strings.Contains(stderr, "cannot be created") {
		t.Errorf("exit %d, want 2 with the folder named\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "== smoke") || strings.Contains(stderr, "measuring") {
		t.Errorf("a run started before the output check:\n%s", stderr)
	}
	code, _, stderr = run(t, "run", "--workloads", "../../workloads.yaml", "--send-error-limit", "0.01")
	if code != exitUsage || !strings.Contains(stderr, "--send-error-limit") {
		t.Errorf("bad --send-error-limit: exit %d, stderr %q", code, stderr)
	}
}

// TestRunStatusOnRabbitMQ covers two rules on a real RabbitMQ: a
// produce-only workload publishes into the topic's "produced" queues
// instead of the void (every send confirmed, never all failed), and a
// consumer too slow for the offered rate leaves the backlog growing at
// the end of the measured phase (degraded, consumers-behind).
func TestRunStatusOnRabbitMQ(t *testing.T) {
	t.Parallel()
	adaptertest.RequireService(t, "rabbitmq", "127.0.0.1:5672")
	file := writeFile(t, "rabbit.yaml", `workloads:
  - name: produce-only
    subscriptionsPerTopic: 0
    producerRate: 200
    warmup: 0s
    duration: 2s
  - name: slow-consumer
    producerRate: 400
    warmup: 0s
    duration: 4s
    delivery: {prefetch: 1}
    queue: {processing: 20ms}
`)
	out := t.TempDir()
	code, stdout, stderr := run(t, "run", "--workloads", file, "--system", "rabbitmq", "--out", out, "--no-progress", "--no-report",
		"--interval", "500ms", "--drain-timeout", "1s")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r, err := results.Read(filepath.Join(out, "produce-only.rabbitmq.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OKApartFromGenerator() || r.Counts.Failed != 0 || r.Counts.Acked == 0 {
		t.Errorf("produce-only: status %s (%s) counts %+v", r.Status, r.Explain(), r.Counts)
	}
	r, err = results.Read(filepath.Join(out, "slow-consumer.rabbitmq.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != results.StatusDegraded || !slices.Contains(reasonCodes(r), results.ReasonConsumersBehind) {
		t.Errorf("slow consumer: status %s (%s)", r.Status, r.Explain())
	}
}
