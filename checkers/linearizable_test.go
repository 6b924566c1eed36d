package checkers

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/brokerbench/brokerbench/checkers/history"
)

// sameOffsetHistory is the adversarial case that used to exhaust
// porcupine: about n events of 8 pipelining producers on one partition,
// every send concurrent with dozens of others, and two sends acknowledged
// at one offset in the middle.
func sameOffsetHistory(n int) []byte {
	var buf bytes.Buffer
	var clock int64
	w := history.NewWriter(&buf, history.Header{Model: history.ModelLog}, history.WithClock(func() int64 { clock++; return clock }))
	rng := rand.New(rand.NewPCG(7, 7))
	var pending []int64
	var offset int64
	value := int64(0)
	twice := false
	for events := 0; events < n; events++ {
		if len(pending) < 64 && (len(pending) == 0 || rng.IntN(2) == 0) {
			value++
			pending = append(pending, value)
			w.Send(int(value%8), "t/0", value)
			continue
		}
		i := rng.IntN(len(pending))
		v := pending[i]
		pending = append(pending[:i], pending[i+1:]...)
		if events >= n/2 && !twice {
			offset-- // the broker hands out one offset twice
			twice = true
		}
		w.SendOK(int(v%8), "t/0", v, offset)
		offset++
	}
	_ = w.Close()
	return buf.Bytes()
}

// TestSameOffsetDecidedWithoutSearch: two sends at one offset make the
// verdict invalid at once, however many sends run concurrently with them,
// and never inconclusive.
func TestSameOffsetDecidedWithoutSearch(t *testing.T) {
	t.Parallel()
	text := sameOffsetHistory(4000)
	start := time.Now()
	v, err := Check(context.Background(), history.NewReader(bytes.NewReader(text), "same-offset"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Valid != Invalid || v.Anomalies["nonlinearizable"] == nil || v.Anomalies["inconsistent-offsets"] == nil || len(v.Inconclusive) > 0 {
		t.Fatalf("verdict %s, anomalies %v, inconclusive %v", v.Valid, names(v), v.Inconclusive)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestLargePieceDecidedDirectly: a violation that prevents every cut makes
// one piece larger than porcupine may search; it is decided by the direct
// rule, with the same outcome.
func TestLargePieceDecidedDirectly(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var clock int64
	w := history.NewWriter(&buf, history.Header{Model: history.ModelLog}, history.WithClock(func() int64 { clock++; return clock }))
	n := maxSearch + 100
	for v := int64(1); v <= int64(n); v++ {
		w.Send(0, "t/0", v)
		w.SendOK(0, "t/0", v, v)
	}
	// Sent after everything returned, acknowledged below all of it.
	w.Send(1, "t/0", 0)
	w.SendOK(1, "t/0", 0, 0)
	_ = w.Close()
	v, err := Check(context.Background(), history.NewReader(&buf, "large"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Valid != Invalid || v.Anomalies["nonlinearizable"] == nil || v.Stats.Porcupine != 0 {
		t.Fatalf("verdict %s, anomalies %v, %d porcupine calls", v.Valid, names(v), v.Stats.Porcupine)
	}
}

// TestDirectRuleMatchesPorcupine compares linearOrderViolation with
// porcupine on random small pieces with distinct offsets.
func TestDirectRuleMatchesPorcupine(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	c := &logChecker{}
	for round := range 2000 {
		n := 1 + rng.IntN(8)
		c.ops = make([]sendOp, n)
		piece := make([]linOp, n)
		offsets := make([]int64, n)
		for i := range piece {
			call := int64(rng.IntN(20))
			ret := call + int64(rng.IntN(6))
			if rng.IntN(5) == 0 {
				ret = 1<<63 - 1 // an info send polled
			}
			piece[i] = linOp{rank: i, offset: int64(i), call: call, ret: ret, send: int32(i)}
			offsets[i] = int64(i)
			c.ops[i] = sendOp{value: int64(i + 1)}
		}
		h := c.porcupineOps(piece)
		got := linearOrderViolation(piece) < 0
		want := porcupine.CheckOperations(linModel(linState{tail: -1}, offsets, c), h)
		if got != want {
			t.Fatalf("round %d: direct rule says linearizable=%v, porcupine %v: %+v", round, got, want, piece)
		}
	}
}

// BenchmarkAdversarial checks the histories that used to make the search
// explode; docs/performance.md has the figures.
func BenchmarkAdversarial(b *testing.B) {
	for _, n := range []int{4_000, 100_000} {
		b.Run(fmt.Sprintf("same-offset-%d", n), func(b *testing.B) {
			text := sameOffsetHistory(n)
			for b.Loop() {
				v, err := Check(context.Background(), history.NewReader(bytes.NewReader(text), "adversarial"), Config{})
				if err != nil || v.Valid != Invalid {
					b.Fatalf("%v, %v", v.Valid, err)
				}
			}
		})
	}
}
