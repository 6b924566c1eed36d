package checkers

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/brokerbench/brokerbench/checkers/history"
)

// genLargeLogHistory writes a log history of about n events shaped like a
// runner's: 8 producers pipelining up to 32 sends each over 16 partitions,
// acknowledged in order, and 4 consumers polling batches of up to 32
// records. With faults, about 1 in 1000 acknowledged messages is lost by the
// "broker", 1 in 1000 is stored twice, and 1 in 2000 polls rewinds.
func genLargeLogHistory(n int, faults bool) []byte {
	const producers, partitions, consumers, inflight = 8, 16, 4, 32
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	buf.Grow(n * 90)
	var clock int64
	w := history.NewWriter(&buf, history.Header{Model: history.ModelLog}, history.WithClock(func() int64 {
		clock += 100
		return clock
	}))
	keys := make([]string, partitions)
	for i := range keys {
		keys[i] = fmt.Sprintf("orders/%d", i)
	}
	logs := make([][]int64, partitions)
	type send struct {
		key   int
		value int64
	}
	pending := make([][]send, producers)
	pos := make([]int, partitions)
	var value int64
	recs := make([]history.Record, 0, 64)
	events := 0
	for events < n {
		p := rng.IntN(producers)
		switch x := rng.IntN(10); {
		case x < 4 && len(pending[p]) < inflight:
			value++
			s := send{rng.IntN(partitions), value}
			pending[p] = append(pending[p], s)
			w.Send(p, keys[s.key], s.value)
			events++
		case x < 8 && len(pending[p]) > 0:
			s := pending[p][0]
			pending[p] = pending[p][1:]
			off := int64(len(logs[s.key]))
			logs[s.key] = append(logs[s.key], s.value)
			if faults && rng.IntN(1000) == 0 {
				logs[s.key] = append(logs[s.key], s.value) // duplicate
			}
			if faults && rng.IntN(1000) == 0 {
				logs[s.key][off] = -1 // lost
			}
			w.SendOK(p, keys[s.key], s.value, off)
			events++
		default:
			c := rng.IntN(consumers)
			recs = recs[:0]
			for k := c; k < partitions; k += consumers {
				if faults && rng.IntN(2000) == 0 {
					pos[k] = max(0, pos[k]-3)
				}
				for ; pos[k] < len(logs[k]) && len(recs) < 32; pos[k]++ {
					if v := logs[k][pos[k]]; v >= 0 {
						recs = append(recs, history.Record{Key: keys[k], Offset: int64(pos[k]), Value: v})
					}
				}
			}
			w.PollOK(100+c, recs)
			events++
		}
	}
	// The final drain: every send completes, every partition is read to
	// its end.
	for p := range pending {
		for _, s := range pending[p] {
			off := int64(len(logs[s.key]))
			logs[s.key] = append(logs[s.key], s.value)
			w.SendOK(p, keys[s.key], s.value, off)
		}
	}
	for k := range logs {
		recs = recs[:0]
		for ; pos[k] < len(logs[k]); pos[k]++ {
			if v := logs[k][pos[k]]; v >= 0 {
				recs = append(recs, history.Record{Key: keys[k], Offset: int64(pos[k]), Value: v})
			}
		}
		w.PollOK(100+k%consumers, recs)
	}
	_ = w.Close()
	return buf.Bytes()
}

// BenchmarkCheckTenMillion checks a valid ten-million-event log history,
// reading included. docs/performance.md has the time and peak memory.
func BenchmarkCheckTenMillion(b *testing.B) {
	text := genLargeLogHistory(10_000_000, false)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		v, err := Check(context.Background(), history.NewReader(bytes.NewReader(text), "ten-million"), Config{})
		if err != nil || v.Valid != Valid {
			b.Fatalf("verdict %v, %v", v.Valid, err)
		}
	}
}

// BenchmarkCheckMillion checks a one-million-event log history, reading
// included. The figure goes to docs/performance.md.
func BenchmarkCheckMillion(b *testing.B) {
	for _, faults := range []bool{false, true} {
		name := "valid"
		if faults {
			name = "anomalies"
		}
		b.Run(name, func(b *testing.B) {
			text := genLargeLogHistory(1_000_000, faults)
			b.SetBytes(int64(len(text)))
			var v *Verdict
			for b.Loop() {
				var err error
				v, err = Check(context.Background(), history.NewReader(bytes.NewReader(text), name), Config{})
				if err != nil {
					b.Fatal(err)
				}
			}
			if (v.Valid == Valid) == faults || v.Valid == Unknown {
				b.Fatalf("verdict %s, anomalies %v", v.Valid, names(v))
			}
			b.ReportMetric(float64(v.Events), "events")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(v.Events), "ns/event")
		})
	}
}
