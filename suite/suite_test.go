package suite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/gate"
	"github.com/brokerbench/brokerbench/suite"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// gateWorkloads is what a user's repository would keep next to its test:
// a short smoke run with a loss threshold and a checked history.
const gateWorkloads = `workloads:
  - name: library-gate
    partitionsPerTopic: 2
    producerRate: 200
    warmup: 0s
    duration: 1s
    guarantee: exactly-once
    history: true
    thresholds: {lost: "== 0"}
`

// Example_gate runs a conformance gate on the embedded refbroker through
// the library, as a go test in another repository would, without the
// brokerbench command.
func Example_gate() {
	dir, err := os.MkdirTemp("", "suite-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	file, err := workloads.Parse("gate.yaml", []byte(gateWorkloads))
	if err != nil {
		panic(err)
	}
	out, err := suite.Run(context.Background(), suite.Config{
		Workloads: file.Workloads,
		Systems:   []string{"refbroker"},
		Out:       dir,
		Gate:      true,
		// A shared CI machine may saturate the load generator: let
		// degraded runs pass; failed ones still fail.
		AllowDegraded: true,
	})
	if err != nil {
		panic(err)
	}
	for _, c := range out.Checks {
		fmt.Println(c.Workload, c.System, c.Name, c.Outcome)
	}
	fmt.Println("failed:", out.Failed())
	// Output:
	// library-gate refbroker run passed
	// library-gate refbroker checker log (exactly-once) passed
	// library-gate refbroker threshold lost == 0 passed
	// failed: false
}

// TestGateFailsThroughLibrary checks the other side: a threshold that
// cannot hold fails the outcome, the summary names it, and the JUnit file
// records it, all without the command line.
func TestGateFailsThroughLibrary(t *testing.T) {
	t.Parallel()
	file, err := workloads.Parse("gate.yaml", []byte(strings.Replace(gateWorkloads, `{lost: "== 0"}`, `{publishRate: "> 1000000000"}`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	junit := filepath.Join(dir, "junit.xml")
	out, err := suite.Run(t.Context(), suite.Config{
		Workloads: file.Workloads, Out: dir, Gate: true, JUnit: junit,
		AllowDegraded: true, // the threshold is under test, not this machine's load generator
		Runner:        []runner.Option{runner.Interval(200 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Failed() || out.GatePassed() || len(out.Results) != 1 {
		t.Fatalf("failed %v, gate passed %v, %d results", out.Failed(), out.GatePassed(), len(out.Results))
	}
	var failed []string
	for _, c := range out.Checks {
		if c.Outcome == gate.Failed {
			failed = append(failed, c.Name)
		}
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "threshold publishRate") {
		t.Errorf("failed checks %q, want the publishRate threshold only", failed)
	}
	var sum strings.Builder
	if err := out.WriteSummary(&sum); err != nil || !strings.Contains(sum.String(), "gate: FAILED (1 of 3 checks)") {
		t.Errorf("summary (%v):\n%s", err, sum.String())
	}
	if x, err := os.ReadFile(junit); err != nil || !strings.Contains(string(x), "<failure") {
		t.Errorf("junit (%v):\n%s", err, x)
	}
}

// TestRunRejectsBadInput: unknown systems and bad runner options are
// usage errors before anything starts.
func TestRunRejectsBadInput(t *testing.T) {
	t.Parallel()
	kill, err := workloads.Parse("kill.yaml", []byte(`workloads:
  - name: kill
    chaos:
      faults: [{kind: kill, target: broker, start: 1s, duration: 100ms}]
`))
	if err != nil {
		t.Fatal(err)
	}
	blackhole, err := workloads.Parse("blackhole.yaml", []byte(`workloads:
  - name: blackhole
    chaos:
      faults: [{kind: blackhole, target: consumers, start: 1s, duration: 1s}]
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  suite.Config
		want string
	}{
		{"unknown system", suite.Config{Systems: []string{"kafak"}}, `"kafak": unknown system; choose from refbroker, kafka`},
		{"bad runner option", suite.Config{Runner: []runner.Option{runner.Interval(time.Millisecond)}}, "interval"},
		// Checked before anything connects: no Kafka needs to run.
		{"process faults on a system brokerbench cannot own", suite.Config{Workloads: kill.Workloads, Systems: []string{"kafka"}},
			"process faults (kill, pause) need a broker brokerbench starts itself: use --system refbroker or redis"},
		// SQS's client takes no dialer: refused before connecting, so no
		// endpoint or region needs to be configured.
		{"network faults on a system without a dialer", suite.Config{Workloads: blackhole.Workloads, Systems: []string{"sqs"}},
			"network faults (latency, blackhole, partition, ...) cannot run on sqs"},
		{"process faults on sqs", suite.Config{Workloads: kill.Workloads, Systems: []string{"sqs"}},
			"process faults (kill, pause) need a broker brokerbench starts itself"},
	}
	for _, tt := range tests {
		tt.cfg.Out = t.TempDir()
		_, err := suite.Run(t.Context(), tt.cfg)
		if err == nil || !errors.Is(err, suite.ErrUsage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want a usage error containing %q", tt.name, err, tt.want)
		}
	}
}
