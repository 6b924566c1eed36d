package refbroker_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/brokerbench/brokerbench/checkers"
	"github.com/brokerbench/brokerbench/refbroker/internal/faults"
)

// TestInjectedBugsNamedByChecker runs a real workload through the runner,
// recording its history exactly as `brokerbench run --history` does, on a
// refbroker with one deliberate bug each, and requires the history checker
// to name the bug: not some failure, the anomaly that bug is. The final
// read the runner ends every recorded run with is what lets the checker
// tell a broker that lost a write from consumers that skipped it.
func TestInjectedBugsNamedByChecker(t *testing.T) {
	if testing.Short() {
		t.Skip("four 3-second runs on a faulty broker; skipped in -short mode")
	}
	t.Parallel()
	tests := []struct {
		name  string
		plan  faults.Plan
		churn bool
		want  string
	}{
		{"acknowledged batch lost", faults.Plan{Kind: faults.LoseAcked, Every: 20}, false, "lost-write"},
		{"batch stored twice", faults.Plan{Kind: faults.Duplicate, Every: 20}, false, "duplicate"},
		{"batches served out of order", faults.Plan{Kind: faults.Reorder, Every: 3}, false, "poll-skip"},
		{"stale committed offset", faults.Plan{Kind: faults.StaleOffset, StaleBy: 50}, true, "stale-offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inj := faults.New(tt.plan)
			hist := filepath.Join(t.TempDir(), "history.jsonl")
			runWithFaults(t, inj, tt.churn, hist)
			if inj.Hits() == 0 {
				t.Fatalf("the fault never fired; the test proves nothing")
			}
			v, err := checkers.CheckFile(t.Context(), hist, checkers.Config{})
			if err != nil {
				t.Fatal(err)
			}
			var found []string
			for name := range v.Anomalies {
				found = append(found, name)
			}
			slices.Sort(found)
			if v.Valid != checkers.Invalid || v.Anomalies[tt.want] == nil || !v.Anomalies[tt.want].Fails {
				t.Errorf("verdict %s, anomalies %v; want %s failing under %s", v.Valid, found, tt.want, v.Guarantee)
			}
			t.Logf("injected %d times; anomalies %v", inj.Hits(), found)
		})
	}
}
