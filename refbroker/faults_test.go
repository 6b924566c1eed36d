package refbroker_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters/kafka"
	"github.com/brokerbench/brokerbench/checkers"
	"github.com/brokerbench/brokerbench/refbroker"
	"github.com/brokerbench/brokerbench/refbroker/internal/faults"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// TestInjectedBugsAreCaught runs a real workload through the runner on a
// refbroker with one deliberate bug each, records the history, and checks
// that both the run's delivery accounting and the history checker (under
// exactly-once, the producer being idempotent) names it: not some failure,
// the anomaly that bug is, recorded exactly as `brokerbench run --history`
// records it (the runner with a history writer). A healthy
// broker is the control row: a check that also fires on it would prove
// nothing.
func TestInjectedBugsAreCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("five 3-second runs on a faulty broker; skipped in -short mode")
	}
	t.Parallel()
	tests := []struct {
		name   string
		plan   faults.Plan
		caught func(c results.Counts) bool
		want   string // the anomaly the checker must name, failing the guarantee
		churn  bool   // restart consumers mid-run, so committed offsets are read back
	}{
		{"healthy broker", faults.Plan{Kind: faults.None}, func(c results.Counts) bool {
			return c.Lost == 0 && c.Duplicates == 0 && c.OutOfOrder == 0
		}, "", false},
		{"acknowledged batch lost", faults.Plan{Kind: faults.LoseAcked, Every: 20}, func(c results.Counts) bool { return c.Lost > 0 },
			"lost-write", false},
		{"batch stored twice", faults.Plan{Kind: faults.Duplicate, Every: 20}, func(c results.Counts) bool { return c.Duplicates > 0 },
			"duplicate", false},
		// A client that receives batches out of order skips the earlier
		// one: the subscription never sees it, though the log holds it,
		// which the runner's final read of every partition shows.
		{"batches served out of order", faults.Plan{Kind: faults.Reorder, Every: 3}, func(c results.Counts) bool { return c.Lost > 0 || c.OutOfOrder > 0 },
			"poll-skip", false},
		// The log itself stays right; the recorded commits show a group
		// reading below what it committed after a restart.
		{"stale committed offset", faults.Plan{Kind: faults.StaleOffset, StaleBy: 50}, func(c results.Counts) bool { return c.Duplicates > 0 },
			"stale-offset", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inj := faults.New(tt.plan)
			hist := filepath.Join(t.TempDir(), "history.jsonl")
			res := runWithFaults(t, inj, tt.churn, hist)
			if !tt.caught(res.Counts) {
				t.Errorf("bug not reported by the run: injected %d times, counts %+v", inj.Hits(), res.Counts)
			}
			if tt.plan.Kind != faults.None && inj.Hits() == 0 {
				t.Errorf("the fault never fired; the test proves nothing")
			}
			v, err := checkers.CheckFile(t.Context(), hist, checkers.Config{})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.plan.Kind == faults.None && v.Valid != checkers.Valid:
				t.Errorf("healthy broker's history is %s: failures %v", v.Valid, v.Failures)
			case tt.want != "" && (v.Valid != checkers.Invalid || v.Anomalies[tt.want] == nil || !v.Anomalies[tt.want].Fails):
				t.Errorf("checker verdict %s with failures %v; want %s failing under %s", v.Valid, v.Failures, tt.want, v.Guarantee)
			}
		})
	}
}

func runWithFaults(t *testing.T, inj *faults.Injector, churn bool, histPath string) *results.Result {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := refbroker.Start(t.Context(), refbroker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: logger, Faults: inj})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	cfg := kafka.Config{}.Default()
	cfg.Name, cfg.Brokers = "refbroker", []string{b.Addr()}
	sys, err := kafka.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })

	w := workloads.Workload{Name: "faults", PartitionsPerTopic: 2, ConsumerPerSubscription: 2, ProducerRate: 2000,
		MessageSize: 128, WarmupDuration: time.Millisecond, TestDuration: 3 * time.Second}
	w.Default()
	w.Guarantee = "exactly-once"
	if churn {
		w.Churn = &workloads.Churn{Interval: time.Second, Leave: "close", Membership: "dynamic", Consumers: 1}
	}
	rn, err := runner.New(runner.Logger(logger), runner.DrainTimeout(5*time.Second), runner.Interval(250*time.Millisecond),
		runner.History(func(string, string) (io.WriteCloser, error) { return os.Create(histPath) }))
	if err != nil {
		t.Fatal(err)
	}
	res, err := rn.Run(context.Background(), w, sys)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}
