package redis

import (
	"slices"
	"testing"
)

// TestKeyLayout pins both key layouts: the single-server names are the ones
// every existing topic uses (one tag per topic), and the cluster names give
// each partition its own tag, with its dead-letter stream in the same slot.
func TestKeyLayout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		layout        keyLayout
		stream1, dlq1 string
		dlqs          []string
	}{
		{
			name: "single", layout: keyLayout{},
			stream1: "bb:{T}:1", dlq1: "bb:{T}:dlq:S",
			dlqs: []string{"bb:{T}:dlq:S"},
		},
		{
			name: "cluster", layout: keyLayout{spread: true},
			stream1: "bb:{T:1}", dlq1: "bb:{T:1}:dlq:S",
			dlqs: []string{"bb:{T:0}:dlq:S", "bb:{T:1}:dlq:S"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.layout.stream("T", 1); got != tc.stream1 {
				t.Errorf("stream(T, 1) = %q, want %q", got, tc.stream1)
			}
			if got := tc.layout.dlq("T", "S", 1); got != tc.dlq1 {
				t.Errorf("dlq(T, S, 1) = %q, want %q", got, tc.dlq1)
			}
			if got := tc.layout.dlqs("T", "S", 2); !slices.Equal(got, tc.dlqs) {
				t.Errorf("dlqs(T, S, 2) = %q, want %q", got, tc.dlqs)
			}
			if got := tc.layout.streams("T", 2); len(got) != 2 || got[1] != tc.stream1 {
				t.Errorf("streams(T, 2) = %q", got)
			}
		})
	}
	if metaKey("T") != "bb:{T}:meta" || dlqSetKey("T") != "bb:{T}:dlqs" {
		t.Errorf("metadata keys changed: %q %q", metaKey("T"), dlqSetKey("T"))
	}
}
