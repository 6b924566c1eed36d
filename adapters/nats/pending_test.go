package nats

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSendList checks the pending list against a slice in send order over
// random pushes and removals, acks in order and out of order (which index
// the list), and removals of sends already removed (a late second
// callback): find and remove see exactly the sends pushed and not removed,
// all lists them oldest first, and the index goes once acks come in order
// again.
func TestSendList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		inOrder float64 // share of removals that take the oldest send
	}{
		{"acks in order", 1},
		{"mostly in order", 0.9},
		{"any order", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, 2))
			var l sendList
			var oracle []*pendingSend
			var removed []*pendingSend
			indexed := false
			for step := range 20_000 {
				switch r := rng.IntN(10); {
				case r < 5 || len(oracle) == 0:
					s := &pendingSend{}
					l.push(s)
					oracle = append(oracle, s)
				case r < 9 || len(removed) == 0:
					i := 0
					if rng.Float64() >= tc.inOrder {
						i = rng.IntN(len(oracle))
					}
					s := oracle[i]
					if got := l.find(&s.msg); got != s {
						t.Fatalf("step %d: find of pending send #%d = %p, want %p", step, i, got, s)
					}
					if !l.remove(s) {
						t.Fatalf("step %d: remove of pending send #%d reported not pending", step, i)
					}
					oracle = slices.Delete(oracle, i, i+1)
					removed = append(removed, s)
				default:
					s := removed[rng.IntN(len(removed))] // a late callback
					if l.find(&s.msg) != nil || l.remove(s) {
						t.Fatalf("step %d: a removed send is found or removed again", step)
					}
				}
				indexed = indexed || l.index != nil
				if l.n != len(oracle) {
					t.Fatalf("step %d: n = %d, want %d", step, l.n, len(oracle))
				}
			}
			if !slices.Equal(l.all(), oracle) {
				t.Fatalf("all() does not list the pending sends oldest first")
			}
			if tc.inOrder == 0 && !indexed {
				t.Fatal("completions in any order never indexed the list")
			}
			// Acks in order again: whatever index out-of-order
			// completions built is dropped while sends are pending.
			for range 100 {
				s := &pendingSend{}
				l.push(s)
				oracle = append(oracle, s)
			}
			for range 2 * maxWalk {
				if s := l.find(&oracle[0].msg); s != oracle[0] || !l.remove(s) {
					t.Fatal("in-order find or remove failed")
				}
				oracle = oracle[1:]
			}
			if l.index != nil {
				t.Fatalf("after %d completions in order the list is still indexed", 2*maxWalk)
			}
		})
	}
}
