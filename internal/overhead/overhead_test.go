package overhead

import (
	"math"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/results"
)

func TestCPUSamplesBetween(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	s := cpuSamples{{t0, 0}, {t0.Add(10 * time.Millisecond), 20 * time.Millisecond}, {t0.Add(20 * time.Millisecond), 20 * time.Millisecond}}
	tests := []struct {
		name     string
		from, to time.Duration
		want     time.Duration
	}{
		{"whole", 0, 20 * time.Millisecond, 20 * time.Millisecond},
		{"interpolated", 5 * time.Millisecond, 15 * time.Millisecond, 10 * time.Millisecond},
		{"idle part", 10 * time.Millisecond, 20 * time.Millisecond, 0},
		{"clamped outside", -time.Second, time.Second, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		got, ok := s.between(t0.Add(tt.from), t0.Add(tt.to))
		if !ok || got != tt.want {
			t.Errorf("%s: between = %v, %v; want %v", tt.name, got, ok, tt.want)
		}
	}
	if _, ok := (cpuSamples{{t0, -1}, {t0.Add(time.Millisecond), -1}}).between(t0, t0.Add(time.Millisecond)); ok {
		t.Error("unreadable CPU reported as known")
	}
}

func TestRatesRatios(t *testing.T) {
	t.Parallel()
	r := Rates{
		Raw:     []Round{{100, 10}, {300, 30}, {200, 20}},
		Harness: []Round{{90, 25}, {180, 40}, {270, 20}},
	}
	if got := r.Ratio(); math.Abs(got-0.9) > 1e-9 {
		t.Errorf("Ratio = %v, want 0.9 (180/200)", got)
	}
	if got := r.CPURatio(); math.Abs(got-0.8) > 1e-9 {
		t.Errorf("CPURatio = %v, want 0.8 (20/25)", got)
	}
}

func TestDrainWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	tests := []struct {
		name    string
		phase   *results.BacklogPhase
		want    Window
		wantErr bool
	}{
		{"drained", &results.BacklogPhase{Built: t0, Drained: t0.Add(2 * time.Second), BuiltMessages: 5000, LeftMessages: 1000, Consumed: 4000},
			Window{Messages: 4000, Start: t0, End: t0.Add(2 * time.Second)}, false},
		{"no backlog phase", nil, Window{}, true},
		{"not drained", &results.BacklogPhase{Built: t0, Drained: t0, BuiltMessages: 5000}, Window{}, true},
	}
	for _, tt := range tests {
		got, err := DrainWindow(&results.Result{Workload: "w", BacklogPhase: tt.phase})
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: DrainWindow = %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}
