package results

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/metrics"
)

// run builds a result from steady measured samples with the given publish
// rates and backlogs (one per second), and counts and a one-partition
// measured phase derived from them.
func run(rates []float64, backlogs []int64) *Result {
	t0 := time.Unix(1_700_000_000, 0)
	r := &Result{ConsumersPerTopic: 1, PartitionsDetail: []Partition{{}}}
	r.Meta.MeasuredSeconds = float64(len(rates))
	for i, rate := range rates {
		s := Sample{Time: t0.Add(time.Duration(i+1) * time.Second), Elapsed: float64(i + 1), PublishRate: rate, ConsumeRate: rate}
		if i < len(backlogs) {
			s.Backlog = backlogs[i]
		}
		r.Samples = append(r.Samples, s)
		r.Counts.Sent += int64(rate)
		r.Counts.Acked += int64(rate)
		r.Counts.Received += int64(rate)
		r.PartitionsDetail[0].MeasuredSent += int64(rate)
	}
	r.Latency.Publish = metrics.Summary{Count: 100, P99: 10}
	r.Latency.EndToEnd = metrics.Summary{Count: 100, P99: 12}
	return r
}

func steady(n int, rate float64) *Result {
	rates := make([]float64, n)
	for i := range rates {
		rates[i] = rate
	}
	return run(rates, make([]int64, n))
}

func with(r *Result, f func(*Result)) *Result { f(r); return r }

func TestJudge(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	healthy := &Generator{Hiccups: metrics.Summary{Count: 1000, P99: 0.2}, CPUShare: 0.5, GOMAXPROCS: 2}
	tests := []struct {
		name        string
		r           *Result
		runErr      error
		interrupted bool
		want        Status
		codes       []string
	}{
		// Every rule quiet: ok, no reasons.
		{"healthy closed loop", steady(6, 1000), nil, false, StatusOK, nil},
		// The open-loop rate reached 96 % of the offered 1000 msg/s.
		{"offered rate achieved", with(steady(6, 960), func(r *Result) { r.OfferedRate = 1000 }), nil, false, StatusOK, nil},
		// Interruption wins over every figure.
		{"interrupted", with(steady(2, 0), func(r *Result) { r.Counts = Counts{} }), nil, true, StatusInterrupted, []string{ReasonInterrupted}},
		// A run error fails the run; its figures add their own reasons.
		{"run error", steady(6, 1000), errors.New("flush: timeout"), false, StatusFailed, []string{ReasonRunError}},
		{"nothing sent", with(steady(6, 0), func(r *Result) { r.Counts = Counts{} }), nil, false, StatusFailed, []string{ReasonNothingSent}},
		// The produce-only RabbitMQ case of issue 12: every send returned.
		{"every send failed", with(steady(6, 0), func(r *Result) { r.Counts = Counts{Sent: 63301, Failed: 63301}; r.ConsumersPerTopic = 0 }),
			nil, false, StatusFailed, []string{ReasonAllSendsFailed}},
		// 2 % of sends failed, over the 1 % limit.
		{"send errors over limit", with(steady(6, 1000), func(r *Result) { r.Counts.Failed = r.Counts.Acked / 49 }), nil, false, StatusFailed, []string{ReasonSendErrors}},
		// 0.5 % failed: within the limit.
		{"send errors within limit", with(steady(6, 1000), func(r *Result) { r.Counts.Failed = r.Counts.Acked / 200 }), nil, false, StatusOK, nil},
		// Errors all inside a fault window (plus grace) do not count.
		{"send errors inside a fault window", with(steady(6, 1000), func(r *Result) {
			r.Counts.Failed = 3000
			r.Samples[2].ErrorRate, r.Samples[3].ErrorRate = 1500, 1500
			r.Events = []Event{{Time: t0.Add(2500 * time.Millisecond), Kind: "fault-start", Detail: "kill"}, {Time: t0.Add(3 * time.Second), Kind: "fault-stop", Detail: "kill: exit 1"}}
		}), nil, false, StatusOK, nil},
		{"consumers received nothing", with(steady(6, 1000), func(r *Result) { r.Counts.Received = 0 }), nil, false, StatusFailed, []string{ReasonNothingReceived}},
		// Produce-only runs have no consumers to receive.
		{"produce only receives nothing", with(steady(6, 1000), func(r *Result) { r.Counts.Received = 0; r.ConsumersPerTopic = 0 }), nil, false, StatusOK, nil},
		// hot-keys on RabbitMQ in issue 12: 46 % of 5000 msg/s.
		{"rate below offered", with(steady(6, 2300), func(r *Result) { r.OfferedRate = 5000 }), nil, false, StatusDegraded, []string{ReasonRateBelowOffered}},
		// Warm-up samples do not count against the offered rate.
		{"slow warm-up only", with(steady(6, 1000), func(r *Result) {
			r.OfferedRate = 1000
			r.Samples[0].Warmup, r.Samples[0].PublishRate = true, 10
		}), nil, false, StatusOK, nil},
		{"backlog growing at the end", run([]float64{1000, 1000, 1000, 1000, 1000, 1000}, []int64{0, 10, 500, 1500, 2500, 4000}), nil, false, StatusDegraded, []string{ReasonConsumersBehind}},
		// The same backlog built by a fault that has not long ended.
		{"backlog growing in a fault window", with(run([]float64{1000, 1000, 1000, 1000, 1000, 1000}, []int64{0, 10, 500, 1500, 2500, 4000}), func(r *Result) {
			r.Events = []Event{{Time: t0.Add(2 * time.Second), Kind: "fault-start", Detail: "blackhole"}, {Time: t0.Add(3 * time.Second), Kind: "fault-stop", Detail: "blackhole"}}
		}), nil, false, StatusOK, nil},
		// A backlog that grows but stays under one second of publishing is
		// in-flight noise.
		{"small backlog noise", run([]float64{1000, 1000, 1000, 1000, 1000, 1000}, []int64{5, 3, 8, 20, 40, 90}), nil, false, StatusOK, nil},
		// A backlog that built up and is shrinking at the end is catching up.
		{"backlog shrinking at the end", run([]float64{1000, 1000, 1000, 1000, 1000, 1000}, []int64{0, 3000, 6000, 5000, 3000, 1200}), nil, false, StatusOK, nil},
		{"healthy generator", with(steady(6, 1000), func(r *Result) { r.Generator = healthy }), nil, false, StatusOK, nil},
		// Hiccup p99 8 ms against a publish p99 of 10 ms: the tail is the generator's.
		{"hiccups explain the p99", with(steady(6, 1000), func(r *Result) {
			r.Generator = &Generator{Hiccups: metrics.Summary{Count: 1000, P99: 8}}
		}), nil, false, StatusDegraded, []string{ReasonGeneratorSaturated}},
		// Hiccups under the 1 ms floor never explain anything.
		{"hiccups under the floor", with(steady(6, 1000), func(r *Result) {
			r.Generator = &Generator{Hiccups: metrics.Summary{Count: 1000, P99: 0.9}}
			r.Latency.Publish.P99, r.Latency.EndToEnd.P99 = 1, 1
		}), nil, false, StatusOK, nil},
		{"cpu saturated with late sends", with(steady(6, 1000), func(r *Result) {
			r.Generator = &Generator{Hiccups: metrics.Summary{Count: 1000, P99: 0.1}, CPUShare: 0.99, GOMAXPROCS: 2}
			r.Counts.Late = r.Counts.Sent / 10
		}), nil, false, StatusDegraded, []string{ReasonGeneratorSaturated}},
		// A busy process whose sends are on time is just busy.
		{"cpu busy without late sends", with(steady(6, 1000), func(r *Result) {
			r.Generator = &Generator{Hiccups: metrics.Summary{Count: 1000, P99: 0.1}, CPUShare: 0.99, GOMAXPROCS: 2}
		}), nil, false, StatusOK, nil},
		// Failed outranks degraded, and both reasons are kept.
		{"failed and degraded", with(steady(6, 1000), func(r *Result) { r.Counts.Received = 0; r.OfferedRate = 5000 }), nil, false, StatusFailed,
			[]string{ReasonNothingReceived, ReasonRateBelowOffered}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, reasons := Judge(tt.r, tt.runErr, tt.interrupted, DefaultLimits())
			var codes []string
			for _, r := range reasons {
				codes = append(codes, r.Code)
				if r.Message == "" {
					t.Errorf("reason %s has no message", r.Code)
				}
			}
			if got != tt.want || !slices.Equal(codes, tt.codes) {
				t.Errorf("Judge = %s %v (%+v), want %s %v", got, codes, reasons, tt.want, tt.codes)
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	t.Parallel()
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	l := DefaultLimits()
	l.MaxSendErrorRate = 1.5
	if err := l.Validate(); err == nil {
		t.Error("a send error limit of 150 % was accepted")
	}
}

func TestOKApartFromGenerator(t *testing.T) {
	t.Parallel()
	gen := Reason{Code: ReasonGeneratorSaturated, Message: "cpu"}
	rate := Reason{Code: ReasonRateBelowOffered, Message: "60 %"}
	tests := []struct {
		status  Status
		reasons []Reason
		want    bool
	}{
		{StatusOK, nil, true},
		{StatusDegraded, []Reason{gen}, true},
		// A starved generator explains the missing rate as well.
		{StatusDegraded, []Reason{rate, gen}, true},
		// Without it, the shortfall is the system's.
		{StatusDegraded, []Reason{rate}, false},
		{StatusFailed, []Reason{gen}, false},
		{StatusInterrupted, nil, false},
	}
	for _, tt := range tests {
		r := &Result{Status: tt.status, StatusReasons: tt.reasons}
		if got := r.OKApartFromGenerator(); got != tt.want {
			t.Errorf("%s %v: %t, want %t", tt.status, tt.reasons, got, tt.want)
		}
	}
}
