package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/results"
)

var (
	buildOnce sync.Once
	refBin    string
	buildErr  error
)

// refbrokerBin builds cmd/refbroker once per test binary, for the
// conformance runs that kill it.
func refbrokerBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "brokerbench-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		refBin = filepath.Join(dir, "refbroker")
		out, err := exec.Command("go", "build", "-o", refBin, "../refbroker").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("go build: %s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build refbroker: %v", buildErr)
	}
	return refBin
}

// TestConformanceFaultsOnRefbroker runs the faults end to end through the
// CLI: refbroker killed with SIGKILL while producing (a subprocess with
// fsync always), then a network blackhole through the proxies; the gate
// must pass (nothing acknowledged lost, the history valid), and the fault
// windows must be in the result and the history.
func TestConformanceFaultsOnRefbroker(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a broker several times; skipped in -short mode")
	}
	t.Setenv("BROKERBENCH_REFBROKER_BIN", refbrokerBin(t))
	file := writeFile(t, "faults.yaml", `workloads:
  - name: kill
    partitionsPerTopic: 2
    producerRate: 500
    warmup: 0s
    duration: 6s
    guarantee: exactly-once
    chaos:
      faults: [{kind: kill, target: broker, start: 1s, interval: 3s, duration: 200ms, repeat: 2}]
      recovery: 3s
    thresholds: {lost: "== 0"}
  - name: blackhole
    partitionsPerTopic: 2
    producerRate: 500
    warmup: 0s
    duration: 4s
    chaos:
      faults: [{kind: blackhole, start: 1s, duration: 1s}]
      recovery: 2s
    thresholds: {lost: "== 0"}
`)
	out := t.TempDir()
	// --allow-degraded: this gate is about losses under faults; a load
	// generator saturated by parallel tests on two cores is not.
	code, stdout, stderr := run(t, "run", "--workloads", file, "--out", out, "--no-progress", "--no-report", "--gate", "--allow-degraded")
	if code != exitOK || !strings.Contains(stdout, "gate: passed") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, name := range []string{"kill", "blackhole"} {
		r, err := results.Read(filepath.Join(out, name+".refbroker.json"))
		if err != nil {
			t.Fatal(err)
		}
		starts := 0
		for _, e := range r.Events {
			if e.Kind == "fault-start" {
				starts++
			}
		}
		if starts == 0 || r.Verdict == nil || r.Verdict.Valid != "valid" || r.Counts.Acked == 0 {
			t.Errorf("%s: %d fault windows, verdict %+v, counts %+v", name, starts, r.Verdict, r.Counts)
		}
		h, err := os.ReadFile(filepath.Join(out, r.Verdict.History))
		if err != nil || !strings.Contains(string(h), `"process":"nemesis"`) {
			t.Errorf("%s: history has no nemesis events (%v)", name, err)
		}
	}
}

// TestShippedConformanceOnQueues runs the shipped conformance-network
// workload (a blackhole, then connection resets, on the consumer path) and
// conformance-autoack on RabbitMQ and Redis: the gate must pass, so no
// confirmed message may be lost to the network faults, and auto-ack
// losses must be reported without failing.
func TestShippedConformanceOnQueues(t *testing.T) {
	if testing.Short() {
		t.Skip("two fault schedules per system; skipped in -short mode")
	}
	t.Parallel()
	for _, sys := range []struct{ name, addr string }{{"rabbitmq", "127.0.0.1:5672"}, {"redis", "127.0.0.1:6379"}} {
		t.Run(sys.name, func(t *testing.T) {
			t.Parallel()
			adaptertest.RequireService(t, sys.name, sys.addr)
			out := t.TempDir()
			code, stdout, stderr := run(t, "run", "--workloads", "../../workloads.yaml", "--workload", "conformance-network",
				"--workload", "conformance-autoack", "--system", sys.name, "--out", out, "--no-progress", "--no-report", "--gate", "--allow-degraded")
			if code != exitOK || !strings.Contains(stdout, "gate: passed") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			r, err := results.Read(filepath.Join(out, "conformance-network."+sys.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if r.Counts.Lost != 0 || r.Verdict == nil || r.Verdict.Valid != "valid" {
				t.Errorf("conformance-network: counts %+v verdict %+v", r.Counts, r.Verdict)
			}
		})
	}
}
