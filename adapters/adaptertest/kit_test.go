package adaptertest

import (
	"slices"
	"sync"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
)

// TestRecorderCopies: the recorder keeps its own copies of Key and Value,
// runs Hook first (whose Disposition is recorded), counts distinct values,
// and is safe for concurrent handlers.
func TestRecorderCopies(t *testing.T) {
	t.Parallel()
	rec := &Recorder{Hook: func(d *adapters.Delivery) {
		if string(d.Value) == "bad" {
			d.Disposition = adapters.Reject
		}
	}}
	buf := []byte("bad")
	d := &adapters.Delivery{Key: []byte("k"), Value: buf}
	rec.Handle(d)
	copy(buf, "xxx") // an adapter reusing its buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { rec.Handle(&adapters.Delivery{Value: []byte("ok")}) })
	}
	wg.Wait()
	all := rec.All()
	if rec.Len() != 9 || len(all) != 9 || rec.Distinct() != 2 {
		t.Fatalf("Len %d, All %d, Distinct %d; want 9, 9, 2", rec.Len(), len(all), rec.Distinct())
	}
	if string(all[0].Value) != "bad" || all[0].Disposition != adapters.Reject {
		t.Errorf("first delivery recorded as %q %v, want \"bad\" reject", all[0].Value, all[0].Disposition)
	}
}

func TestAssignmentZeroValue(t *testing.T) {
	t.Parallel()
	var a Assignment
	a.Revoked([]int32{1}) // before any assignment: nothing to remove
	a.Assigned([]int32{3, 0, 1})
	a.Revoked([]int32{1})
	if got := a.Partitions(); !slices.Equal(got, []int32{0, 3}) {
		t.Fatalf("Partitions = %v, want [0 3]", got)
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	get := Env(map[string]string{"A": "1"})
	if get("A") != "1" || get("B") != "" {
		t.Fatalf("Env: A=%q B=%q", get("A"), get("B"))
	}
	if Env(nil)("A") != "" {
		t.Fatal("Env(nil) must read every key as empty")
	}
	if s := Suffix(); len(s) != 12 || s == Suffix() {
		t.Fatalf("Suffix %q: want 12 fresh hex characters", s)
	}
}
