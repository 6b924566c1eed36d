package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/adapters/sqs/sqstest"
	"github.com/brokerbench/brokerbench/results"
)

// sqsRate is the producer rate of TestCLISQS: moto_server answers a few
// dozen requests a second on a loaded two-core machine, far below the
// shipped workloads' 1000 msg/s (adapters/sqs's runner test uses the same).
const sqsRate = "40"

// sqsWorkloads are the shipped workloads TestCLISQS runs: smoke and the
// queue workloads.
var sqsWorkloads = []string{"smoke", "work-dispatch", "requeue", "poison", "consumer-crash"}

// TestCLISQS is `brokerbench run --system sqs` end to end against moto
// (adapters/sqs/sqstest), configured only through BROKERBENCH_SQS_* and the
// AWS credential variables, as a user would: the shipped workloads file
// with every producer rate lowered for the emulator, shortened by flags.
// Every run must complete with nothing lost or failed and drain, and the
// poison run must dead-letter every poison message, and consumer-crash
// must have crashed a consumer.
func TestCLISQS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several workloads against the SQS emulator (moto_server); skipped in -short mode")
	}
	srv := sqstest.Private(t) // skips naming moto_server when it is missing, fails with CI=true
	for k, v := range srv.Env() {
		t.Setenv(k, v)
	}
	shipped, err := os.ReadFile("../../workloads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	slow := regexp.MustCompile(`(?m)^(\s+producerRate:) \d+$`).ReplaceAll(shipped, []byte("$1 "+sqsRate))
	file := writeFile(t, "workloads-sqs.yaml", string(slow))
	out := t.TempDir()
	args := []string{"run", "--workloads", file, "--system", "sqs", "--duration", "4s", "--warmup", "500ms",
		"--interval", "500ms", "--drain-timeout", "60s", "--out", out, "--no-progress", "--no-report"}
	for _, w := range sqsWorkloads {
		args = append(args, "--workload", w)
	}
	code, stdout, stderr := run(t, args...)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	files, err := filepath.Glob(filepath.Join(out, "*.sqs.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, path := range files {
		r, err := results.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		c := r.Counts
		t.Logf("%s: status %s sent %d acked %d received %d lost %d dup %d released %d redelivered %d deadLettered %d poisonAcked %d",
			r.Workload, r.Status, c.Sent, c.Acked, c.Received, c.Lost, c.Duplicates, c.Released, c.Redelivered, c.DeadLettered, c.PoisonAcked)
		// Degraded is accepted: moto_server's rate is not under test, its
		// queue semantics are (and a degraded run's figures are real).
		if r.Status != results.StatusOK && r.Status != results.StatusDegraded || c.Failed != 0 || c.Acked == 0 || c.Lost != 0 || !c.Drained {
			t.Errorf("%s: status %s (%s) counts %+v", r.Workload, r.Status, r.Explain(), c)
		}
		if strings.HasPrefix(r.Workload, "poison") && c.DeadLettered != c.PoisonAcked {
			t.Errorf("%s: %d messages dead-lettered, %d poison messages sent", r.Workload, c.DeadLettered, c.PoisonAcked)
		}
		if r.Workload == "consumer-crash" && !slices.ContainsFunc(r.Events, func(e results.Event) bool { return e.Kind == "consumer-crash" }) {
			t.Errorf("consumer-crash: no consumer crashed; events %+v", r.Events)
		}
		for _, w := range sqsWorkloads {
			if r.Workload == w || strings.HasPrefix(r.Workload, w+"[") {
				seen[w] = true
			}
		}
	}
	for _, w := range sqsWorkloads {
		if !seen[w] {
			t.Errorf("no result of %s in %s (files %v)", w, out, files)
		}
	}
}
