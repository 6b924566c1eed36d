package results

import (
	"bytes"
	"strings"
	"testing"
)

// TestWriteCapacity prints the recorded refbroker capacity sweep of the
// report tests: one line per search with its found rate.
func TestWriteCapacity(t *testing.T) {
	t.Parallel()
	rs, _, err := ReadDir("../reports/testdata/capacity")
	if err != nil || len(rs) != 4 {
		t.Fatalf("read %d results: %v", len(rs), err)
	}
	var b bytes.Buffer
	if err := WriteScenarios(&b, rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "capacity-partitions on refbroker: highest rate meeting p99 end-to-end < 100ms") {
		t.Errorf("no capacity block:\n%s", out)
	}
	for _, row := range []string{"partitionsPerTopic=1", "partitionsPerTopic=8"} {
		if !strings.Contains(out, row) {
			t.Errorf("capacity block lacks %s:\n%s", row, out)
		}
	}
}
