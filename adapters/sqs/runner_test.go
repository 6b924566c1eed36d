package sqs_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// TestRunnerWorkloads runs the shipped smoke and queue workloads through
// the workloads runner on SQS standard queues, as `brokerbench run
// --system sqs` does, shortened and slowed down: moto_server answers
// a few dozen requests a second on a loaded two-core machine, far below
// the workloads' 1000 msg/s, so the runs send 40 msg/s. Every run must
// complete with nothing lost or failed and drain, and the poison run must
// end with every poison message dead-lettered. Smoke also runs on FIFO
// queues, where the runner must find no message out of order.
// emulatorRate is the producer rate of the runner test (see there).
const emulatorRate = 40

func TestRunnerWorkloads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several workloads against the SQS emulator; skipped with -short")
	}
	t.Parallel()
	f, err := workloads.Load(filepath.Join("..", "..", "workloads.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fifo bool
	}{
		{"smoke", false}, {"work-dispatch", false}, {"requeue", false}, {"poison", false}, {"consumer-crash", false},
		{"smoke", true}, // FIFO promises per-partition order, which the runner checks
	} {
		name := tc.name
		w, ok := f.Find(name)
		if !ok {
			t.Fatalf("workloads.yaml has no %s", name)
		}
		for _, run := range w.Expand() {
			run.ProducerRate = emulatorRate
			label := run.Name
			if tc.fifo {
				label += "-fifo"
			}
			t.Run(label, func(t *testing.T) {
				sys := newSQS(t, tc.fifo)
				rn, err := runner.New(runner.Warmup(500*time.Millisecond), runner.Duration(3*time.Second),
					runner.Interval(500*time.Millisecond), runner.DrainTimeout(60*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				res, err := rn.Run(t.Context(), run, sys)
				if err != nil {
					t.Fatal(err)
				}
				c := res.Counts
				t.Logf("%s: status %s sent %d acked %d received %d lost %d dup %d released %d redelivered %d deadLettered %d poisonAcked %d drained %t, throttled %d",
					run.Name, res.Status, c.Sent, c.Acked, c.Received, c.Lost, c.Duplicates, c.Released, c.Redelivered, c.DeadLettered, c.PoisonAcked, c.Drained, sys.Throttled())
				// Degraded is accepted: moto_server's rate is not under test,
				// its queue semantics are.
				if res.Status != results.StatusOK && res.Status != results.StatusDegraded || c.Failed != 0 || c.Acked == 0 || c.Lost != 0 || !c.Drained ||
					(c.OrderPromised && c.OutOfOrder != 0) || c.OrderPromised != tc.fifo && name == "smoke" {
					t.Fatalf("status %s (%s) counts %+v", res.Status, res.Explain(), c)
				}
				if name == "poison" && c.DeadLettered != c.PoisonAcked {
					t.Errorf("poison: %d messages dead-lettered, %d poison messages sent", c.DeadLettered, c.PoisonAcked)
				}
			})
		}
	}
}
