package reports

import (
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot/plotter"

	"github.com/brokerbench/brokerbench/metrics"
)

func TestDownsample(t *testing.T) {
	t.Parallel()
	xys := make(plotter.XYs, 10000)
	for i := range xys {
		xys[i] = plotter.XY{X: float64(i), Y: math.Sin(float64(i) / 100)}
	}
	xys[5000].Y = 50 // a spike a reader must see
	got := downsample(xys, 500)
	if len(got) != 500 {
		t.Fatalf("len = %d, want 500", len(got))
	}
	if got[0] != xys[0] || got[len(got)-1] != xys[len(xys)-1] {
		t.Error("end points not kept")
	}
	if !slices.ContainsFunc(got, func(p plotter.XY) bool { return p.Y == 50 }) {
		t.Error("the spike was dropped")
	}
	if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].X < got[j].X }) {
		t.Error("points out of order")
	}
	short := xys[:10]
	if d := downsample(short, 500); len(d) != 10 {
		t.Errorf("short series changed: %d points", len(d))
	}
}

func TestPercentileCurve(t *testing.T) {
	t.Parallel()
	h := metrics.NewHistogram()
	for i := 1; i <= 5000; i++ {
		if err := h.RecordValue(int64(i)); err != nil { // 1..5000 us
			t.Fatal(err)
		}
	}
	enc, err := metrics.Encode(h)
	if err != nil {
		t.Fatal(err)
	}
	xys, err := percentileCurve(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range xys {
		if math.IsInf(p.X, 0) || p.X < 1 || p.X > 5000 {
			t.Fatalf("point %d x = %v: outside [1, count]; p = 100%% must be left out", i, p.X)
		}
		if i > 0 && (p.X <= xys[i-1].X || p.Y < xys[i-1].Y) {
			t.Fatalf("point %d not increasing: %v after %v", i, p, xys[i-1])
		}
	}
	// x = 2 is p50: 2.5 ms within the histogram's precision.
	mid := xys[sort.Search(len(xys), func(i int) bool { return xys[i].X >= 2 })]
	if math.Abs(mid.Y-2.5) > 0.1 {
		t.Errorf("latency near p50 = %v ms, want about 2.5", mid.Y)
	}
	empty, _ := metrics.Encode(hdrhistogram.New(1, 1e6, 3))
	if xys, err := percentileCurve(empty); err != nil || xys != nil {
		t.Errorf("empty histogram: %v, %v; want no curve", xys, err)
	}
	if _, err := percentileCurve("not a histogram"); err == nil {
		t.Error("bad histogram decoded without error")
	}
}

func TestQuantileCurveOMB(t *testing.T) {
	t.Parallel()
	got := quantileCurve(map[string]float64{"50": 1, "99": 3, "99.9": 5, "100": 9, "bad": 1})
	want := plotter.XYs{{X: 2, Y: 1}, {X: 100, Y: 3}, {X: 1000, Y: 5}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v (100 and bad keys dropped)", got, want)
	}
	for i := range want {
		if math.Abs(got[i].X-want[i].X) > 1e-6*want[i].X || got[i].Y != want[i].Y {
			t.Errorf("point %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestNaturalLess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"p=2", "p=16", true}, // numbers by value
		{"p=16", "p=2", false},
		{"a", "b", true},
		{"x[n=08]", "x[n=9]", true}, // leading zeros ignored
		{"same", "same", false},
		{"ab", "abc", true},
	}
	for _, tt := range tests {
		if got := naturalLess(tt.a, tt.b); got != tt.want {
			t.Errorf("naturalLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSetLabels(t *testing.T) {
	t.Parallel()
	got := setLabels([]string{"runs/a/results", "runs/b/results", "before/"})
	want := []string{"a/results", "b/results", "before"}
	if !slices.Equal(got, want) {
		t.Errorf("setLabels = %q, want %q", got, want)
	}
}
