package checkers

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// TestExactAnomalies pins the full set of anomalies of testdata histories
// where what is NOT reported matters as much as what is: blame that goes to
// the broker rather than the consumer, rules that must not fire twice.
func TestExactAnomalies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []string
	}{
		// The consumer passed offset 1 before value 2's send was invoked:
		// the broker appended behind its tail; the consumer did not skip.
		{"log-realtime-offset-not-poll-skip.invalid.jsonl", []string{"realtime-offset"}},
		// Only the poll shows the violation: as sends alone, value 2 at
		// offset 3 then info value 1 at offset 5 linearize.
		{"log-realtime-offset-ack-below-poll.invalid.jsonl", []string{"realtime-offset"}},
		// Value 2 acknowledged at 6, also stored at 2, below offset 4
		// acknowledged before value 2 was sent.
		{"log-realtime-offset-record-below-ack.invalid.jsonl", []string{"duplicate", "realtime-offset"}},
		{"log-future-read.invalid.jsonl", []string{"future-read"}},
		// The jump is over an acknowledged offset nobody polled: a skip
		// and a loss.
		{"log-poll-skip-over-acked.invalid.jsonl", []string{"lost-write", "poll-skip"}},
		// A pipelining producer's info send, polled, is ordered like its
		// acknowledged sends; and the process carries on after the info.
		{"log-nonmonotonic-send-info.invalid.jsonl", []string{"nonmonotonic-send"}},
		// Re-reading below the group's committed offset after an assign.
		{"log-stale-offset-exactly-once.invalid.jsonl", []string{"stale-offset"}},
		// Another group reading from the start is not stale.
		{"log-clean-commit-groups.valid.jsonl", nil},
		// Queue loss is judged by acknowledgement.
		{"queue-lost-nacked-never-redelivered.invalid.jsonl", []string{"lost"}},
		{"queue-lost-consumer-crashed.invalid.jsonl", []string{"lost"}},
		{"queue-clean-crash-redelivered.valid.jsonl", nil},
		{"queue-clean-dead-letter.valid.jsonl", nil},
		{"queue-unexpected-wrong-queue.invalid.jsonl", []string{"unexpected"}},
		{"queue-unexpected-dead-letter-elsewhere.invalid.jsonl", []string{"duplicated", "unexpected"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			v, err := CheckFile(context.Background(), filepath.Join("testdata", tt.file), Config{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for name := range v.Anomalies {
				got = append(got, name)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("anomalies %v, want %v", names(v), tt.want)
			}
		})
	}
}
