package runner

import (
	"testing"

	"github.com/brokerbench/brokerbench/workloads"
)

// TestSettled: a group is settled once every partition is owned and as
// many members own some as can; a system that reports no assignments is
// settled at once.
func TestSettled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		partitions int
		owned      [][]int32 // per member
		reported   bool
		want       bool
	}{
		{"one member holds all, the other none yet", 4, [][]int32{{0, 1, 2, 3}, nil}, true, false},
		{"handover in progress", 4, [][]int32{{0, 1}, nil}, true, false},
		{"spread", 4, [][]int32{{0, 1}, {2, 3}}, true, true},
		{"more members than partitions", 2, [][]int32{{0}, {1}, nil}, true, true},
		{"a partition unowned", 4, [][]int32{{0}, {2, 3}}, true, false},
		{"no assignments reported", 4, [][]int32{nil, nil}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &run{w: workloads.Workload{PartitionsPerTopic: tc.partitions}}
			s := &subscription{run: r}
			s.assignments.Store(tc.reported)
			r.subs = []*subscription{s}
			for _, ps := range tc.owned {
				c := &consumer{sub: s, assigned: map[int32]bool{}}
				for _, p := range ps {
					c.assigned[p] = true
				}
				r.consumers = append(r.consumers, c)
			}
			if got := r.settled(); got != tc.want {
				t.Errorf("settled = %v, want %v", got, tc.want)
			}
		})
	}
}
