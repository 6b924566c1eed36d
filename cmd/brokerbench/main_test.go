package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/results"
)

// run executes the command line and returns the exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = execute(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsageErrorsExitTwo(t *testing.T) {
	t.Parallel()
	bad := writeFile(t, "bad.yaml", "workloads:\n  - name: x\n    partitonsPerTopic: 4\n")
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown command", []string{"bogus"}, "unknown command"},
		{"unknown flag", []string{"run", "--bogus"}, "unknown flag"},
		{"too many args", []string{"validate", "a", "b"}, "accepts at most 1 arg"},
		{"unknown system", []string{"run", "--workloads", "../../workloads.yaml", "--system", "kafak"}, `unknown system; choose from refbroker, kafka`},
		{"unknown workload", []string{"run", "--workloads", "../../workloads.yaml", "--workload", "smok"}, `--workload "smok": no such workload`},
		{"missing file", []string{"validate", "nope.yaml"}, "nope.yaml"},
		{"bad key names file and line", []string{"validate", bad}, "bad.yaml:3"},
		{"bad duration flag", []string{"run", "--duration", "5"}, "invalid argument"},
		{"bad warmup flag", []string{"run", "--workloads", "../../workloads.yaml", "--warmup", "5"}, `--warmup "5": want a duration`},
		{"bad repeat", []string{"run", "--workloads", "../../workloads.yaml", "--repeat", "0"}, "--repeat 0: want 1 or more"},
		{"unknown baseline", []string{"report", "--in", "../../reports/testdata/multi", "--out", t.TempDir(), "--baseline", "kafak"},
			`--baseline: bad baseline "kafak": neither a result set (multi) nor a system`},
	}
	for _, tt := range tests {
		code, _, stderr := run(t, tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and %q", tt.name, code, stderr, tt.want)
		}
	}
}

func TestValidateAndListShippedWorkloads(t *testing.T) {
	t.Parallel()
	code, out, stderr := run(t, "validate", "../../workloads.yaml")
	if code != exitOK || !strings.Contains(out, ": ok") {
		t.Fatalf("validate: exit %d out %q err %q", code, out, stderr)
	}
	code, out, _ = run(t, "list", "--workloads", "../../workloads.yaml")
	for _, want := range []string{"smoke", "throughput-per-partition", "hot-keys", "rebalance-storm", "fanout", "backlog-drain", "refbroker", "rabbitmq", "nats", "sqs"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("list output lacks %q (exit %d):\n%s", want, code, out)
		}
	}
}

// TestRunSmokeOnRefbroker is `brokerbench run` end to end on the embedded
// broker: exit 0, a result file per run, and the summary table.
func TestRunSmokeOnRefbroker(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	code, stdout, stderr := run(t, "run", "--workloads", "../../workloads.yaml", "--workload", "smoke",
		"--duration", "2s", "--warmup", "500ms", "--out", out, "--no-progress")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r, err := results.Read(filepath.Join(out, "smoke.refbroker.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OKApartFromGenerator() || r.Counts.Lost != 0 || r.Counts.Acked == 0 || r.Meta.System.Client == "" {
		t.Errorf("result: status %s (%s) counts %+v system %+v", r.Status, r.Explain(), r.Counts, r.Meta.System)
	}
	if !strings.Contains(stdout, "smoke") || !strings.Contains(stdout, "refbroker") {
		t.Errorf("summary table missing:\n%s", stdout)
	}
	// The result says how the adapter drove refbroker (kgo's effective
	// settings), so a comparison can show it.
	var linger bool
	for _, c := range r.Meta.Client {
		linger = linger || c.Name == "linger" && c.Value != ""
	}
	if !linger {
		t.Errorf("meta.client %+v: want the producer's effective linger", r.Meta.Client)
	}
	// refbroker ran as brokerbench's own subprocess (this test binary
	// re-executed, see TestMain), not inside the load generator.
	if !strings.Contains(r.Meta.System.Server, "subprocess pid ") || !strings.Contains(r.Meta.System.Server, "--data-dir ") {
		t.Errorf("server %q: want refbroker as a subprocess with its pid and flags", r.Meta.System.Server)
	}
}

// TestRunOMBWorkloadFile runs an unmodified OpenMessaging Benchmark
// workload file, shortened by flags.
func TestRunOMBWorkloadFile(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../workloads/testdata/omb*.yaml")
	if len(files) == 0 {
		t.Fatal("no OMB sample workload in workloads/testdata")
	}
	out := t.TempDir()
	code, stdout, stderr := run(t, "run", "--workloads", files[0], "--duration", "1s", "--warmup", "0s", "--out", out, "--no-progress")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	rs, _, err := results.ReadDir(out)
	if err != nil || len(rs) != 1 {
		t.Fatalf("results %v %v", rs, err)
	}
	// The file's 50,000 msg/s may be out of this machine's reach
	// (degraded); loading and running the file is under test.
	if !rs[0].Complete() {
		t.Errorf("status %s (%s)", rs[0].Status, rs[0].Explain())
	}
}

// TestRunGate checks --gate and --junit: a threshold that cannot hold
// fails the gate with exit 1 and a JUnit failure; one that holds passes.
func TestRunGate(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "gate.yaml", `workloads:
  - name: gated
    partitionsPerTopic: 2
    producerRate: 500
    warmup: 0s
    duration: 1s
    thresholds:
      lost: "== 0"
      publishRate: "> 1000000000"
`)
	junit := filepath.Join(t.TempDir(), "junit.xml")
	code, stdout, stderr := run(t, "run", "--workloads", file, "--out", t.TempDir(), "--no-progress", "--gate", "--junit", junit)
	if code != exitFailed || !strings.Contains(stdout, "GATE FAILED: gated on refbroker: threshold publishRate > 1e+09") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	x, err := os.ReadFile(junit)
	if err != nil || !strings.Contains(string(x), `<testcase name="threshold lost == 0" classname="gated.refbroker"`) || !strings.Contains(string(x), "<failure") {
		t.Errorf("junit: %v\n%s", err, x)
	}
	pass := strings.Replace(file, "gate.yaml", "pass.yaml", 1)
	data, _ := os.ReadFile(file)
	os.WriteFile(pass, []byte(strings.Replace(string(data), `publishRate: "> 1000000000"`, `publishRate: "> 100"`, 1)), 0o644)
	// --allow-degraded: the thresholds are under test, not the machine's
	// load generator (a degraded run's check passes, and says why).
	if code, stdout, _ := run(t, "run", "--workloads", pass, "--out", t.TempDir(), "--no-progress", "--gate", "--allow-degraded"); code != exitOK || !strings.Contains(stdout, "gate: passed (3 checks)") {
		t.Errorf("passing gate: exit %d\n%s", code, stdout)
	}
}

// TestRunSmokeOnEverySystem runs the shipped smoke workload, shortened, on
// each system of this machine through the CLI: the same workload, every
// adapter, a result with no delivery anomaly. (refbroker has its own test
// above; "kafka" is the same adapter, exercised against kfake and refbroker
// in its package's tests.)
func TestRunSmokeOnEverySystem(t *testing.T) {
	t.Parallel()
	for _, sys := range []struct{ name, addr string }{
		{"rabbitmq", "127.0.0.1:5672"}, {"redis", "127.0.0.1:6379"}, {"nats", "127.0.0.1:4222"},
	} {
		t.Run(sys.name, func(t *testing.T) {
			t.Parallel()
			adaptertest.RequireService(t, sys.name, sys.addr)
			out := t.TempDir()
			code, stdout, stderr := run(t, "run", "--workloads", "../../workloads.yaml", "--workload", "smoke", "--system", sys.name,
				"--duration", "2s", "--warmup", "500ms", "--out", out, "--no-progress", "--no-report", "--history", "--gate", "--allow-degraded")
			if code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			r, err := results.Read(filepath.Join(out, "smoke."+sys.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if !r.OKApartFromGenerator() || r.Counts.Lost != 0 || r.Counts.Acked == 0 || r.Verdict == nil || r.Verdict.Valid != "valid" {
				t.Errorf("status %s counts %+v verdict %+v", r.Status, r.Counts, r.Verdict)
			}
		})
	}
}
