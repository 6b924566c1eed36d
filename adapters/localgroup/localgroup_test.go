package localgroup

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
)

func TestAssignment(t *testing.T) {
	tests := []struct {
		partitions, members int
		want                [][]int32
	}{
		{4, 1, [][]int32{{0, 1, 2, 3}}},             // one member owns all
		{4, 3, [][]int32{{0, 3}, {1}, {2}}},         // p mod n
		{2, 3, [][]int32{{0}, {1}, nil}},            // more members than partitions: one idles
		{5, 2, [][]int32{{0, 2, 4}, {1, 3}}},        // uneven split
		{1, 1, [][]int32{{0}}},                      // the smallest group
		{0, 2, [][]int32{nil, nil}},                 // no partitions: nobody owns anything
		{3, 3, [][]int32{{0}, {1}, {2}}},            // one each
		{6, 4, [][]int32{{0, 4}, {1, 5}, {2}, {3}}}, // the first members take the rest
	}
	for _, tc := range tests {
		got := Assignment(tc.partitions, tc.members)
		for i := range got {
			if !slices.Equal(got[i], tc.want[i]) {
				t.Errorf("Assignment(%d, %d) = %v, want %v", tc.partitions, tc.members, got, tc.want)
				break
			}
		}
	}
}

// fake is a Member that logs what the group asks of it.
type fake struct {
	name string
	log  *[]string
	own  []int32
}

func (f *fake) Assigned() []int32 { return slices.Clone(f.own) }

func (f *fake) Assign(_ context.Context, ps []int32) error {
	for _, p := range ps {
		if !slices.Contains(f.own, p) {
			f.own = append(f.own, p)
			*f.log = append(*f.log, fmt.Sprintf("%s+%d", f.name, p))
		}
	}
	slices.Sort(f.own)
	return nil
}

func (f *fake) Revoke(ps []int32, graceful bool) {
	for _, p := range ps {
		f.own = slices.DeleteFunc(f.own, func(q int32) bool { return q == p })
		*f.log = append(*f.log, fmt.Sprintf("%s-%d", f.name, p))
	}
}

func (f *fake) RecordErr(error) {}

// TestRebalanceRevokesFirst: a partition is never owned by two members:
// every rebalance revokes before it assigns, and after a leave the
// remaining members own every partition exactly once.
func TestRebalanceRevokesFirst(t *testing.T) {
	var log []string
	g := New(4)
	a, b, c := &fake{name: "a", log: &log}, &fake{name: "b", log: &log}, &fake{name: "c", log: &log}
	ctx := context.Background()
	for _, m := range []*fake{a, b, c} {
		if err := g.Join(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	log = nil
	if err := g.Leave(ctx, b, true); err != nil {
		t.Fatal(err)
	}
	owners := make(map[int32]string)
	for _, e := range log {
		name, op := e[:1], e[1]
		n, err := strconv.Atoi(e[2:])
		if err != nil {
			t.Fatalf("log entry %q: %v", e, err)
		}
		p := int32(n)
		switch op {
		case '-':
			if owners[p] != "" && owners[p] != name {
				t.Errorf("%s revoked partition %d owned by %s", name, p, owners[p])
			}
			delete(owners, p)
		case '+':
			for q, o := range owners {
				if q == p && o != name {
					t.Errorf("%s assigned partition %d while %s still owns it (log %v)", name, p, o, log)
				}
			}
			owners[p] = name
		}
	}
	if !slices.Equal(a.own, []int32{0, 2}) || !slices.Equal(c.own, []int32{1, 3}) || len(b.own) != 0 {
		t.Errorf("after b left: a %v, b %v, c %v; want [0 2], [], [1 3]", a.own, b.own, c.own)
	}
}

func TestCommitNeverMovesBack(t *testing.T) {
	g := New(1)
	for _, tc := range []struct {
		next  int64
		moved bool
		want  int64
	}{
		{5, true, 5},  // first commit
		{3, false, 5}, // a slow revoked owner cannot undo its successor
		{5, false, 5}, // the same offset again does not move
		{9, true, 9},  // forward
		{0, false, 9}, // zero is behind too
	} {
		if moved := g.Commit(0, tc.next); moved != tc.moved {
			t.Errorf("Commit(%d) moved = %v, want %v", tc.next, moved, tc.moved)
		}
		if got, ok := g.Committed(0); !ok || got != tc.want {
			t.Errorf("after Commit(%d): Committed = %d, %v; want %d", tc.next, got, ok, tc.want)
		}
	}
	if _, ok := g.Committed(1); ok {
		t.Error("Committed of a partition never committed reports ok")
	}
}

func TestRegistryPartitionCount(t *testing.T) {
	var r Registry
	g1, err := r.Group("t", "s", 3)
	if err != nil {
		t.Fatal(err)
	}
	if g2, err := r.Group("t", "s", 3); err != nil || g2 != g1 {
		t.Errorf("second Group = %p, %v; want the first %p", g2, err, g1)
	}
	if _, err := r.Group("t", "s", 4); err == nil {
		t.Error("a member with another partition count was accepted")
	}
	r.Forget("t")
	if g3, err := r.Group("t", "s", 4); err != nil || g3 == g1 {
		t.Errorf("after Forget: Group = %p, %v; want a new group", g3, err)
	}
}
