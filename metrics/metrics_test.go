package metrics

import (
	"testing"
	"time"
)

func TestLatencyRecordAndSummarize(t *testing.T) {
	t.Parallel()
	l := NewLatency()
	for i := 1; i <= 1000; i++ {
		l.Record(time.Duration(i) * time.Millisecond)
	}
	l.Record(2 * time.Hour) // beyond the range: counted, not clamped
	l.Record(-time.Second)  // recorded as 0

	total := NewHistogram()
	l.MergeTotal(total)
	s := Summarize(total)
	if s.Count != 1001 {
		t.Fatalf("count = %d, want 1001", s.Count)
	}
	if l.OutOfRange() != 1 {
		t.Fatalf("out of range = %d, want 1", l.OutOfRange())
	}
	within := func(got, want float64) bool { return got >= want*0.999 && got <= want*1.001 }
	if !within(s.P50, 500) || !within(s.P99, 990) || !within(s.Max, 1000) {
		t.Fatalf("summary = %+v", s)
	}

	interval := NewHistogram()
	l.MergeInterval(interval)
	if interval.TotalCount() != 1001 {
		t.Fatalf("interval count = %d", interval.TotalCount())
	}
	again := NewHistogram()
	l.MergeInterval(again)
	if again.TotalCount() != 0 {
		t.Fatalf("interval not rotated: %d", again.TotalCount())
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	h := NewHistogram()
	for i := int64(1); i < 5000; i += 7 {
		_ = h.RecordValue(i)
	}
	s, err := Encode(h)
	if err != nil {
		t.Fatal(err)
	}
	if s[:8] != "HISTFAAA" {
		t.Fatalf("encoding prefix %q", s[:8])
	}
	back, err := Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equals(h) {
		t.Fatal("decoded histogram differs")
	}
}

func TestQuantileMapKeys(t *testing.T) {
	t.Parallel()
	h := NewHistogram()
	for i := int64(1); i <= 100000; i++ {
		_ = h.RecordValue(i)
	}
	m := QuantileMap(h)
	for _, k := range []string{"1", "50", "99", "99.9", "99.99", "99.999", "100"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing quantile key %q", k)
		}
	}
	if m["99.9"] < m["99"] || m["100"] < m["99.999"] {
		t.Errorf("quantiles not monotonic: %v %v", m["99"], m["99.9"])
	}
}

func BenchmarkLatencyRecord(b *testing.B) {
	l := NewLatency()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Record(time.Duration(i%100000) * time.Microsecond)
	}
}

// TestGroupTotalSpansRotations checks that the cumulative histogram, which
// is filled by rotation rather than per record, holds every value recorded
// since the last Reset, whether or not its interval has been rotated.
func TestGroupTotalSpansRotations(t *testing.T) {
	t.Parallel()
	g := NewGroup(2)
	total := func(kind int) int64 {
		h := NewHistogram()
		g.MergeTotal(kind, h)
		return h.TotalCount()
	}
	g.Record(time.Millisecond, time.Second)
	g.MergeInterval(0, NewHistogram()) // kind 0 rotated, kind 1 not
	g.Record(2*time.Millisecond, 2*time.Second)
	if a, b := total(0), total(1); a != 2 || b != 2 {
		t.Fatalf("totals after one rotation = %d, %d; want 2, 2", a, b)
	}
	interval := NewHistogram()
	g.MergeInterval(1, interval)
	if interval.TotalCount() != 2 || total(1) != 2 {
		t.Fatalf("kind 1: interval %d, total %d; want 2, 2", interval.TotalCount(), total(1))
	}
	g.Reset()
	if a, b := total(0), total(1); a != 0 || b != 0 {
		t.Fatalf("totals after Reset = %d, %d; want 0", a, b)
	}
}
