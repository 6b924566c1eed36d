package workloads

import (
	"math"
	"slices"
	"testing"
)

// zipfShare is the exact probability of key k under ZIPF over n keys.
func zipfShare(k, n int, s float64) float64 {
	var sum float64
	for i := range n {
		sum += math.Pow(float64(1+i), -s)
	}
	return math.Pow(float64(1+k), -s) / sum
}

func TestKeyChooserDistribution(t *testing.T) {
	t.Parallel()
	const draws = 100_000
	const tol = 0.01 // absolute; at 100k draws a share's standard error is under 0.0016
	tests := []struct {
		name  string
		d     KeyDistribution
		want  map[int]float64 // key → expected share
		noKey bool
	}{
		// 80% on key 0, the rest spread evenly over keys 1..99.
		{name: "hot key", d: KeyDistribution{Kind: KeyHot, Keys: 100, HotShare: 0.8},
			want: map[int]float64{0: 0.8, 1: 0.2 / 99, 50: 0.2 / 99, 99: 0.2 / 99}},
		// A hot key at a low share is still the hottest.
		{name: "hot key 0.3", d: KeyDistribution{Kind: KeyHot, Keys: 10, HotShare: 0.3},
			want: map[int]float64{0: 0.3, 9: 0.7 / 9}},
		{name: "uniform", d: KeyDistribution{Kind: KeyUniform, Keys: 10},
			want: map[int]float64{0: 0.1, 5: 0.1, 9: 0.1}},
		{name: "random nano", d: KeyDistribution{Kind: KeyRandomNano, Keys: 4},
			want: map[int]float64{0: 0.25, 1: 0.25, 2: 0.25, 3: 0.25}},
		{name: "zipf 1.1", d: KeyDistribution{Kind: KeyZipf, Keys: 1000, Exponent: 1.1},
			want: map[int]float64{0: zipfShare(0, 1000, 1.1), 1: zipfShare(1, 1000, 1.1), 9: zipfShare(9, 1000, 1.1)}},
		{name: "zipf 2", d: KeyDistribution{Kind: KeyZipf, Keys: 100, Exponent: 2},
			want: map[int]float64{0: zipfShare(0, 100, 2), 1: zipfShare(1, 100, 2)}},
		{name: "round robin", d: KeyDistribution{Kind: KeyRoundRobin, Keys: 5},
			want: map[int]float64{0: 0.2, 4: 0.2}},
		{name: "no key", d: KeyDistribution{Kind: KeyNone}, noKey: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.d.NewChooser(42)
			counts := map[int]int{}
			for range draws {
				k, ok := c.Next()
				if ok == tt.noKey {
					t.Fatalf("Next ok = %v, want %v", ok, !tt.noKey)
				}
				if ok && (k < 0 || k >= tt.d.Keys) {
					t.Fatalf("key %d outside [0, %d)", k, tt.d.Keys)
				}
				counts[k]++
			}
			for k, want := range tt.want {
				got := float64(counts[k]) / draws
				if math.Abs(got-want) > tol {
					t.Errorf("key %d share = %.4f, want %.4f ± %.2f", k, got, want, tol)
				}
			}
		})
	}
}

func TestKeyChooserRoundRobinOrder(t *testing.T) {
	t.Parallel()
	c := KeyDistribution{Kind: KeyRoundRobin, Keys: 3}.NewChooser(0)
	var got []int
	for range 7 {
		k, _ := c.Next()
		got = append(got, k)
	}
	if want := []int{0, 1, 2, 0, 1, 2, 0}; !slices.Equal(got, want) {
		t.Errorf("sequence = %v, want %v", got, want)
	}
}

// TestKeyChooserDeterministic: one seed gives one sequence; another seed a
// different one.
func TestKeyChooserDeterministic(t *testing.T) {
	t.Parallel()
	for _, d := range []KeyDistribution{
		{Kind: KeyUniform, Keys: 1000},
		{Kind: KeyZipf, Keys: 1000, Exponent: 1.2},
		{Kind: KeyHot, Keys: 1000, HotShare: 0.5},
	} {
		a, b, c := sample(d, 7), sample(d, 7), sample(d, 8)
		if !slices.Equal(a, b) {
			t.Errorf("%s: same seed, different sequences", d.Label())
		}
		if slices.Equal(a, c) {
			t.Errorf("%s: seeds 7 and 8 gave the same sequence", d.Label())
		}
	}
}

// TestKeyChooserInvalidInput: NewChooser never panics and stays in range on
// distributions Validate would reject.
func TestKeyChooserInvalidInput(t *testing.T) {
	t.Parallel()
	for _, d := range []KeyDistribution{
		{},
		{Kind: "BOGUS", Keys: 5},
		{Kind: KeyZipf, Keys: -3, Exponent: 0.5},
		{Kind: KeyZipf, Keys: 1, Exponent: math.Inf(1)},
		{Kind: KeyHot, Keys: 1, HotShare: 2},
		{Kind: KeyUniform, Keys: 0},
		{Kind: KeyRoundRobin, Keys: -1},
	} {
		c := d.NewChooser(1)
		fixed := d.sanitized()
		for range 1000 {
			k, ok := c.Next()
			if ok && (k < 0 || k >= fixed.Keys) {
				t.Fatalf("%+v: key %d outside [0, %d)", d, k, fixed.Keys)
			}
		}
	}
}

func TestKeyChooserAllocs(t *testing.T) {
	// Not parallel: AllocsPerRun counts allocations process-wide.
	for _, d := range benchDistributions() {
		c := d.NewChooser(1)
		if n := testing.AllocsPerRun(1000, func() { c.Next() }); n != 0 {
			t.Errorf("%s: %v allocs per Next, want 0", d.Label(), n)
		}
	}
}

func BenchmarkKeyChooser(b *testing.B) {
	for _, d := range benchDistributions() {
		b.Run(d.Label(), func(b *testing.B) {
			c := d.NewChooser(1)
			b.ReportAllocs()
			var sink int
			for b.Loop() {
				k, _ := c.Next()
				sink += k
			}
			_ = sink
		})
	}
}

func benchDistributions() []KeyDistribution {
	return []KeyDistribution{
		{Kind: KeyNone},
		{Kind: KeyRoundRobin, Keys: DefaultOMBKeys},
		{Kind: KeyRandomNano, Keys: DefaultOMBKeys},
		{Kind: KeyUniform, Keys: DefaultKeys},
		{Kind: KeyZipf, Keys: DefaultKeys, Exponent: DefaultZipfExponent},
		{Kind: KeyHot, Keys: DefaultKeys, HotShare: DefaultHotShare},
	}
}

func sample(d KeyDistribution, seed int64) []int {
	c := d.NewChooser(seed)
	out := make([]int, 100)
	for i := range out {
		out[i], _ = c.Next()
	}
	return out
}
