package results

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

func TestRepeatFileName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rep  *Repeat
		want string
	}{
		{nil, "smoke.refbroker.json"},                           // a single run keeps the old name
		{&Repeat{Index: 1, Of: 1}, "smoke.refbroker.json"},      // so does one repetition of one
		{&Repeat{Index: 3, Of: 5}, "smoke.refbroker.rep3.json"}, // repetitions get their own files
	} {
		if got := tc.rep.FileName("smoke", "refbroker"); got != tc.want {
			t.Errorf("%+v: FileName = %q, want %q", tc.rep, got, tc.want)
		}
	}
}

// TestOldSingleRunFileLoads reads a result written before repetitions
// existed: it is one repetition of one, and its figures summarise without
// an interval.
func TestOldSingleRunFileLoads(t *testing.T) {
	t.Parallel()
	r, err := Read(filepath.Join("..", "reports", "testdata", "ref", "smoke.refbroker.json"))
	if err != nil {
		t.Fatal(err)
	}
	if i, n := r.Repetition(); i != 1 || n != 1 || r.Repeat != nil || r.Steadiness != nil {
		t.Fatalf("repetition %d of %d, repeat %+v, steadiness %+v; want 1 of 1 and nil fields", i, n, r.Repeat, r.Steadiness)
	}
	m, _ := MetricByName("publishRate")
	f := m.Summarize([]*Result{r})
	if f.N != 1 || f.HasInterval() || f.Warning != "1 repetition: no confidence interval" {
		t.Fatalf("summary %+v, want one value and the no-interval warning", f)
	}
	var b bytes.Buffer
	if err := WriteRepeatTable(&b, []*Result{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1 repetition: no confidence interval") {
		t.Fatalf("summary does not say there is no interval:\n%s", b.String())
	}
}

// TestRepeatsRoundTrip writes repetitions the way the suite does and reads
// them back: every file is kept, sorted by repetition, and carries the
// group's summary.
func TestRepeatsRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var rs []*Result
	for i, rate := range []float64{1000, 1010, 990, 1005, 995} {
		r := sampleResult("smoke", "refbroker", 1)
		for j := range r.Samples {
			r.Samples[j].PublishRate = rate
		}
		r.Repeat = &Repeat{Index: i + 1, Of: 5}
		rs = append(rs, r)
	}
	gs := Groups(rs)
	if len(gs) != 1 || len(gs[0].Runs) != 5 {
		t.Fatalf("groups = %+v, want one of 5", gs)
	}
	files, sum := gs[0].Summary()
	for _, r := range rs {
		r.Repeat.Files, r.Repeat.Summary = files, sum
		if _, err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	back, _, err := ReadDir(dir)
	if err != nil || len(back) != 5 {
		t.Fatalf("ReadDir: %d results, %v", len(back), err)
	}
	for i, r := range back {
		if idx, of := r.Repetition(); idx != i+1 || of != 5 {
			t.Fatalf("file %d is repetition %d of %d", i, idx, of)
		}
	}
	f := back[2].Repeat.Summary["publishRate"]
	if f.N != 5 || math.Abs(f.Mean-1000) > 1e-9 || f.Low >= 1000 || f.High <= 1000 || len(f.Values) != 5 {
		t.Fatalf("publishRate summary %+v, want mean 1000 of 5 with an interval", f)
	}
	if len(back[0].Repeat.Files) != 5 || back[0].Repeat.Files[4] != "smoke.refbroker.rep5.json" {
		t.Fatalf("files = %v", back[0].Repeat.Files)
	}
	var b bytes.Buffer
	if err := WriteRepeatTable(&b, back); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1000 ± ") || !strings.Contains(b.String(), "5/5") {
		t.Fatalf("repeat table lacks the mean ± half-width or ok count:\n%s", b.String())
	}
}

// TestCheckSteadiness: one table row per shape of measured phase.
func TestCheckSteadiness(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	series := func(n int, f func(i int) float64) *Result {
		r := &Result{Status: StatusOK, Workload: "w", Driver: "d"}
		r.Samples = append(r.Samples, Sample{Warmup: true, PublishRate: 5}) // warm-up never counts
		for i := range n {
			v := f(i) * (1 + 0.02*rng.NormFloat64())
			r.Samples = append(r.Samples, Sample{PublishRate: v, ConsumeRate: v})
		}
		return r
	}
	for _, tc := range []struct {
		name              string
		r                 *Result
		checked, unsteady bool
	}{
		// A flat rate with 2 % noise is steady.
		{"flat", series(20, func(int) float64 { return 1000 }), true, false},
		// Falling from 1000 to 500 over the phase is a trend.
		{"trend", series(20, func(i int) float64 { return 1000 - 25*float64(i) }), true, true},
		// A stall to 60 % after the middle is a change point.
		{"step", series(20, func(i int) float64 { return map[bool]float64{true: 1000, false: 600}[i < 9] }), true, true},
		// A significant but small drift (3 %) is within tolerance.
		{"small drift", series(30, func(i int) float64 { return 1000 - float64(i) }), true, false},
		// Too few samples to judge.
		{"short", series(5, func(i int) float64 { return 1000 - 100*float64(i) }), false, false},
		// Consumer churn makes rates dip by design: not judged.
		{"churn", withEvent(series(20, func(i int) float64 { return 1000 - 25*float64(i) }), "consumer-leave"), false, false},
	} {
		st := CheckSteadiness(tc.r)
		if st.Checked != tc.checked || st.Unsteady != tc.unsteady {
			t.Errorf("%s: %+v, want checked %v unsteady %v", tc.name, st, tc.checked, tc.unsteady)
		}
		if st.Unsteady != (tc.r.withSteadiness(st).UnsteadyNote() != "") {
			t.Errorf("%s: note %q disagrees with the verdict", tc.name, tc.r.UnsteadyNote())
		}
	}
}

func (r *Result) withSteadiness(st *Steadiness) *Result {
	r.Steadiness = st
	return r
}

func withEvent(r *Result, kind string) *Result {
	r.Events = append(r.Events, Event{Kind: kind})
	return r
}
