package runner

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/brokerbench/brokerbench/adapters/memory"
	"github.com/brokerbench/brokerbench/results"
)

// TestMeasuredSamples: the measurement's last part is a sample of its own
// when it is at least half an interval long, so a run as short as one
// interval still has a measured rate (it had none when the producers
// stopped before the first tick was taken), and a sliver after the last
// tick is not weighed as a whole sample.
func TestMeasuredSamples(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		duration time.Duration
		want     []float64 // measured samples' lengths, seconds
	}{
		{time.Second, []float64{1}},
		{1100 * time.Millisecond, []float64{1}},
		{1600 * time.Millisecond, []float64{1, 0.6}},
	} {
		t.Run(tt.duration.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := smallWorkload("samples")
				w.WarmupDuration, w.TestDuration = 0, tt.duration
				rn, err := New(Interval(time.Second), Logger(quietLogger()), DrainTimeout(20*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				res, err := rn.Run(t.Context(), w, memory.New(memory.Config{}))
				if err != nil {
					t.Fatal(err)
				}
				var got []float64
				prev := 0.0
				for _, s := range res.Samples {
					if s.Measured() {
						got = append(got, s.Elapsed-prev)
					}
					prev = s.Elapsed
				}
				if len(got) != len(tt.want) {
					t.Fatalf("measured samples of %v s, want %v (samples %+v)", got, tt.want, res.Samples)
				}
				for i := range got {
					if d := got[i] - tt.want[i]; d < -0.02 || d > 0.02 { // Elapsed counts from the measurement's start, a moment after the sampler's
						t.Errorf("measured sample %d is %.3f s long, want %.3f", i, got[i], tt.want[i])
					}
				}
				if pub, _, _ := res.MeanRates(); pub < 1900 || pub > 2100 {
					t.Errorf("measured publish rate %.0f msg/s, want about the offered 2000", pub)
				}
				if d := results.Derive(res); d.RateSamples != len(tt.want) {
					t.Errorf("RateSamples %d, want %d", d.RateSamples, len(tt.want))
				}
			})
		})
	}
}
