package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/refbroker/refbrokertest"
	"github.com/brokerbench/brokerbench/results"
)

// TestPlantedBugsCaughtByName is brokerbench's self-validation: each bug
// refbroker can plant (refbroker/refbrokertest) runs through the CLI as a
// user would run it, `brokerbench run --system kafka --history` against
// an in-process refbroker with the bug, and then `brokerbench check` on the
// recorded history must fail naming the anomaly that bug is, not just some
// anomaly. The run's own delivery accounting must see it too. A healthy
// broker is the control row: a check that also fired on it would prove
// nothing. The producer is idempotent, so exactly-once is the guarantee.
func TestPlantedBugsCaughtByName(t *testing.T) {
	if testing.Short() {
		t.Skip("five 3-second recorded runs on a faulty broker; skipped in -short mode")
	}
	t.Parallel()
	tests := []struct {
		plan    refbrokertest.Plan
		anomaly string // the anomaly `check` must name as failing; "" for a valid history
		churn   bool   // restart consumers mid-run, so committed offsets are read back
		caught  func(c results.Counts) bool
	}{
		{refbrokertest.Plan{Fault: refbrokertest.None}, "", false,
			func(c results.Counts) bool { return c.Lost == 0 && c.Duplicates == 0 && c.OutOfOrder == 0 }},
		{refbrokertest.Plan{Fault: refbrokertest.LoseAcked, Every: 20}, "lost-write", false,
			func(c results.Counts) bool { return c.Lost > 0 }},
		{refbrokertest.Plan{Fault: refbrokertest.Duplicate, Every: 20}, "duplicate", false,
			func(c results.Counts) bool { return c.Duplicates > 0 }},
		// A client that receives batches out of order skips the earlier
		// one: its consumer jumps over records the log holds (the
		// runner's final read of every partition shows they are there).
		{refbrokertest.Plan{Fault: refbrokertest.Reorder, Every: 3}, "poll-skip", false,
			func(c results.Counts) bool { return c.Lost > 0 || c.OutOfOrder > 0 }},
		// The log stays right; the recorded commits show a group reading
		// below what it committed after a restart.
		{refbrokertest.Plan{Fault: refbrokertest.StaleOffset, StaleBy: 50}, "stale-offset", true,
			func(c results.Counts) bool { return c.Duplicates > 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.plan.Fault.String(), func(t *testing.T) {
			t.Parallel()
			inj := refbrokertest.New(tt.plan)
			addr := startFaultyBroker(t, inj)
			out := t.TempDir()
			wl := fmt.Sprintf("fault-%s", tt.plan.Fault)
			// Lost records never arrive: a short drain, as they
			// count as lost once it ends.
			code, stdout, stderr := run(t, "run", "--workloads", faultWorkload(t, wl, tt.churn), "--system", "kafka",
				"--kafka-brokers", addr, "--history", "--drain-timeout", "5s", "--out", out, "--no-progress", "--no-report")
			if code != exitOK { // without --gate, run records; check judges
				t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if tt.plan.Fault != refbrokertest.None && inj.Hits() == 0 {
				t.Fatal("the bug was never planted; the run proves nothing")
			}
			r, err := results.Read(filepath.Join(out, wl+".kafka.json"))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.caught(r.Counts) {
				t.Errorf("the run's accounting missed the bug (planted %d times): counts %+v", inj.Hits(), r.Counts)
			}
			if r.Verdict == nil || r.Verdict.History == "" {
				t.Fatalf("no history recorded: verdict %+v", r.Verdict)
			}
			checkNames(t, filepath.Join(out, r.Verdict.History), tt.anomaly)
		})
	}
}

// checkNames runs `brokerbench check` on a recorded history and requires
// the verdict to be valid (anomaly "") or to fail naming anomaly.
func checkNames(t *testing.T, history, anomaly string) {
	t.Helper()
	verdictPath := filepath.Join(t.TempDir(), "verdict.json")
	code, stdout, stderr := run(t, "check", "--guarantee", "exactly-once", "--json", verdictPath, history)
	var v struct {
		Valid     any                        `json:"valid"`
		Failures  []string                   `json:"failures"`
		Anomalies map[string]json.RawMessage `json:"anomalies"`
	}
	b, err := os.ReadFile(verdictPath)
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	if err != nil {
		t.Fatalf("check: exit %d, verdict: %v\n%s%s", code, err, stdout, stderr)
	}
	switch {
	case anomaly == "" && (code != exitOK || v.Valid != true):
		t.Errorf("healthy broker's history: exit %d, valid %v, failures %v\n%s", code, v.Valid, v.Failures, stdout)
	case anomaly != "" && (code != exitFailed || v.Valid != false || !slices.Contains(v.Failures, anomaly) || !strings.Contains(stdout, anomaly)):
		t.Errorf("check: exit %d, valid %v, failures %v; want %s failing under exactly-once\n%s", code, v.Valid, v.Failures, anomaly, stdout)
	}
}

// startFaultyBroker starts refbroker in this process on a free port with
// inj planting its bug, and returns its address.
func startFaultyBroker(t *testing.T, inj *refbrokertest.Injector) string {
	t.Helper()
	b, err := inj.Start(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("start refbroker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b.Addr()
}

// faultWorkload writes a workload file with one short exactly-once
// workload named name: 2 partitions read by a group of 2 consumers.
func faultWorkload(t *testing.T, name string, churn bool) string {
	t.Helper()
	y := fmt.Sprintf(`workloads:
  - name: %s
    partitionsPerTopic: 2
    consumerPerSubscription: 2
    producerRate: 2000
    messageSize: 128
    warmup: 0s
    duration: 3s
    guarantee: exactly-once
`, name)
	if churn {
		y += "    churn: {interval: 1s, leave: close, membership: dynamic, consumers: 1}\n"
	}
	return writeFile(t, name+".yaml", y)
}
