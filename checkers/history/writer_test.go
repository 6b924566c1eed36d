package history

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// newTestWriter returns a Writer to a buffer with a deterministic clock.
func newTestWriter(t testing.TB, h Header) (*Writer, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	var clock atomic.Int64
	w := NewWriter(&buf, h, WithClock(func() int64 { return clock.Add(10) }))
	t.Cleanup(func() { _ = w.Close() })
	return w, &buf
}

func TestWriterRoundTrip(t *testing.T) {
	t.Parallel()
	w, buf := newTestWriter(t, Header{Model: ModelLog, Guarantee: ExactlyOnce})
	w.Send(0, `weird "key"\`+"\n\x01é\xff", 1)
	w.SendOK(0, "t/0", 1, 0)
	w.SendFail(1, "t/0", 2)
	w.SendInfo(2, "t/0", 3)
	w.Poll(3)
	// Interleaved keys must come out grouped, each key in delivery order.
	w.PollOK(3, []Record{{"t/1", 5, 50}, {"t/0", 0, 1}, {"t/1", 6, 60}, {"t/0", 1, 2}})
	w.PollOK(3, nil)
	w.AssignGroup(3, "g", []string{"t/0", "t/1"})
	w.Commit(3, "g", []KeyOffset{{"t/0", 2}, {"t/1", 7}})
	w.NemesisStart("kill -9 refbroker")
	w.NemesisStop("kill -9 refbroker")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	events, h, err := readAll(t, buf.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if h.Version != Version || h.Model != ModelLog || h.Guarantee != ExactlyOnce {
		t.Errorf("header %+v", h)
	}
	if len(events) != 11 {
		t.Fatalf("%d events, want 11", len(events))
	}
	for i, e := range events {
		if e.Index != int64(i) || e.Time != int64(10*(i+1)) {
			t.Errorf("event %d: index %d time %d", i, e.Index, e.Time)
		}
	}
	if k := events[0].Key; k != "weird \"key\"\\\n\x01é\ufffd" {
		t.Errorf("escaped key read back as %q", k)
	}
	wantRecs := []Record{{"t/0", 0, 1}, {"t/0", 1, 2}, {"t/1", 5, 50}, {"t/1", 6, 60}}
	if got := events[5].Records; len(got) != 4 || got[0] != wantRecs[0] || got[1] != wantRecs[1] || got[2] != wantRecs[2] || got[3] != wantRecs[3] {
		t.Errorf("poll records %v, want %v", got, wantRecs)
	}
	if events[6].Records == nil || len(events[6].Records) != 0 {
		t.Errorf("empty poll: %v", events[6].Records)
	}
	if e := events[2]; e.Type != Fail || e.Value != 2 {
		t.Errorf("send fail %+v", e)
	}
	if e := events[9]; !e.IsNemesis() || e.F != Start || e.Fault != "kill -9 refbroker" {
		t.Errorf("nemesis %+v", e)
	}
	if a, c := events[7], events[8]; a.Group != "g" || len(a.Keys) != 2 || c.Group != "g" || len(c.Commits) != 2 || c.Commits[1] != (KeyOffset{"t/1", 7}) {
		t.Errorf("assign %+v, commit %+v", a, c)
	}
}

func TestWriterQueueOps(t *testing.T) {
	t.Parallel()
	w, buf := newTestWriter(t, Header{Model: ModelQueue})
	w.Enqueue(0, "q", 1)
	w.EnqueueOK(0, "q", 1)
	w.Enqueue(0, "q", 2)
	w.EnqueueFail(0, "q", 2)
	w.Enqueue(1, "q", 3)
	w.EnqueueInfo(1, "q", 3)
	w.DequeueOK(2, "q", 1)
	w.Nack(2, "q", 1)
	w.DequeueOK(2, "q", 1)
	w.Ack(2, "q", 1)
	w.Reject(2, "q", 3)
	w.DequeueInfo(2)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	events, _, err := readAll(t, buf.String())
	if err != nil || len(events) != 12 {
		t.Fatalf("%d events, %v", len(events), err)
	}
	want := []Func{Enqueue, Enqueue, Enqueue, Enqueue, Enqueue, Enqueue, Dequeue, Nack, Dequeue, Ack, Reject}
	for i, e := range events[:11] {
		if e.F != want[i] || e.Key != "q" || !e.HasValue {
			t.Errorf("event %d: %+v", i, e)
		}
	}
	if e := events[11]; e.F != Dequeue || e.Type != Info || e.Process != 2 || e.HasValue {
		t.Errorf("crash marker %+v", e)
	}
}

// TestWriterConcurrent writes from many goroutines and checks the file is a
// valid history: indices dense, times non-decreasing, every event present.
func TestWriterConcurrent(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := NewWriter(&buf, Header{Model: ModelLog})
	const procs, per = 8, 500
	var wg sync.WaitGroup
	for p := range procs {
		wg.Go(func() {
			for i := range per {
				v := int64(p*per + i)
				w.Send(p, "t/0", v)
				w.SendOK(p, "t/0", v, v)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	events, _, err := readAll(t, buf.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2*procs*per {
		t.Fatalf("%d events, want %d", len(events), 2*procs*per)
	}
	for i, e := range events {
		if e.Index != int64(i) {
			t.Fatalf("event %d has index %d", i, e.Index)
		}
	}
}

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n--; f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriterErrorsAreSticky(t *testing.T) {
	t.Parallel()
	w := NewWriter(&failingWriter{}, Header{})
	w.Send(0, "t/0", 1)
	if err := w.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Flush: %v", err)
	}
	w.Send(0, "t/0", 2) // dropped, must not panic
	if err := w.Close(); err == nil {
		t.Fatal("Close after a failed write returned nil")
	}
	w2 := NewWriter(io.Discard, Header{})
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	w2.Send(0, "t/0", 1)
	if !errors.Is(w2.Err(), ErrClosed) {
		t.Errorf("write after Close: Err() = %v, want ErrClosed", w2.Err())
	}
}

func TestWriterDoesNotAllocate(t *testing.T) {
	w := NewWriter(io.Discard, Header{})
	recs := []Record{{"t/1", 5, 50}, {"t/0", 0, 1}, {"t/1", 6, 60}}
	w.PollOK(0, recs) // grow the scratch buffers once
	allocs := testing.AllocsPerRun(1000, func() {
		w.Send(1, "orders/3", 123456789)
		w.SendOK(1, "orders/3", 123456789, 987654)
		w.PollOK(2, recs)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per three events, want 0", allocs)
	}
}

// BenchmarkWriter measures the runner's hot path: one send invoke and its
// ok per iteration, from parallel goroutines, to a discarding sink.
func BenchmarkWriter(b *testing.B) {
	w := NewWriter(io.Discard, Header{Model: ModelLog})
	b.ReportAllocs()
	var proc atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		p := int(proc.Add(1))
		v := int64(p) << 40
		for pb.Next() {
			v++
			w.Send(p, "orders/3", v)
			w.SendOK(p, "orders/3", v, v)
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/event")
}

// BenchmarkWriterPoll measures recording a 100-record poll.
func BenchmarkWriterPoll(b *testing.B) {
	w := NewWriter(io.Discard, Header{Model: ModelLog})
	recs := make([]Record, 100)
	for i := range recs {
		recs[i] = Record{Key: "orders/" + string(rune('0'+i%4)), Offset: int64(i), Value: int64(i) << 20}
	}
	b.ReportAllocs()
	for b.Loop() {
		w.PollOK(1, recs)
	}
}
