package suite_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/gate"
	"github.com/brokerbench/brokerbench/reports"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/suite"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// rateWorkload is a short open-loop workload at rate msg/s: 2 s measured
// in 200 ms samples, enough for a steadiness check and a stable mean.
func rateWorkload(t *testing.T, rate int) []workloads.Workload {
	t.Helper()
	f, err := workloads.Parse("rate.yaml", fmt.Appendf(nil, `workloads:
  - name: repeat-rate
    partitionsPerTopic: 1
    messageSize: 128
    producerRate: %d
    warmup: 0s
    duration: 2s
`, rate))
	if err != nil {
		t.Fatal(err)
	}
	return f.Workloads
}

// TestRepeatComparisonOfRealRates runs refbroker 4 times at 300 msg/s and
// 4 times at 600 msg/s, then compares the two sets as `report --in slow
// --in fast` does: the publish-rate ratio must be significant with an
// interval containing the true ratio 2, and the latency ratios, taken at
// rates 100 % apart, must be marked not comparable. 4 repetitions a side
// is the fewest with which the U test can reach p < 0.05.
func TestRepeatComparisonOfRealRates(t *testing.T) {
	if testing.Short() {
		t.Skip("16 s of real runs; the full test run (without -short) covers it")
	}
	t.Parallel()
	root := t.TempDir()
	dirs := map[int]string{300: filepath.Join(root, "slow"), 600: filepath.Join(root, "fast")}
	for _, rate := range []int{300, 600} {
		out, err := suite.Run(t.Context(), suite.Config{
			Workloads: rateWorkload(t, rate), Out: dirs[rate], Repeat: 4,
			Runner: []runner.Option{runner.Interval(200 * time.Millisecond)},
		})
		if err != nil || out.Failed() {
			t.Fatalf("run at %d msg/s: %v (failed %v)", rate, err, out != nil && out.Failed())
		}
		if len(out.Results) != 4 {
			t.Fatalf("%d results at %d msg/s, want 4 repetitions", len(out.Results), rate)
		}
		// Every repetition's file is kept and carries the group's summary.
		for i := 1; i <= 4; i++ {
			r, err := results.Read(filepath.Join(dirs[rate], fmt.Sprintf("repeat-rate.refbroker.rep%d.json", i)))
			if err != nil {
				t.Fatal(err)
			}
			f := r.Repeat.Summary["publishRate"]
			if idx, of := r.Repetition(); idx != i || of != 4 || f.N != 4 || !f.HasInterval() {
				t.Fatalf("repetition file %d: %d of %d, publishRate %+v", i, idx, of, f)
			}
			if f.Low > float64(rate) || f.High < float64(rate)*0.9 {
				t.Errorf("at %d msg/s the publish rate interval is [%.1f, %.1f]", rate, f.Low, f.High)
			}
			if r.Steadiness == nil || !r.Steadiness.Checked {
				t.Errorf("repetition %d: steadiness not checked: %+v", i, r.Steadiness)
			}
		}
		var sum strings.Builder
		if err := out.WriteSummary(&sum); err != nil || !strings.Contains(sum.String(), "4/4") || !strings.Contains(sum.String(), " ± ") {
			t.Errorf("summary (%v) lacks the repetitions' intervals:\n%s", err, sum.String())
		}
	}
	rep, err := reports.Write(t.Context(), reports.Options{In: []string{dirs[300], dirs[600]}, Out: filepath.Join(root, "report")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.PNGs, func(p string) bool { return strings.HasSuffix(p, ".repeat-rates.png") }) ||
		!slices.ContainsFunc(rep.PNGs, func(p string) bool { return strings.HasSuffix(p, ".repeat-latency.png") }) {
		t.Errorf("report charts %v lack the error-bar charts", rep.PNGs)
	}
	data, err := os.ReadFile(rep.Comparison)
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Comparisons []reports.Comparison }
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	find := func(metric string) reports.Comparison {
		for _, c := range file.Comparisons {
			if c.Metric == metric && c.Subject == "refbroker [fast]" && c.Baseline == "refbroker [slow]" {
				return c
			}
		}
		t.Fatalf("comparison.json has no %s of refbroker [fast] against refbroker [slow]:\n%s", metric, data)
		return reports.Comparison{}
	}
	pub := find("publishRate")
	t.Logf("publishRate fast/slow: %.4f [%.4f, %.4f] p=%.4f", pub.Ratio.Ratio, pub.Low, pub.High, pub.P)
	if !pub.Significant || !pub.Bounded || !pub.Comparable || pub.Low > 2 || pub.High < 2 || pub.N1 != 4 || pub.N2 != 4 || pub.P >= 0.05 {
		t.Errorf("publishRate comparison %+v: want significant, n=4+4, interval containing 2", pub)
	}
	if lat := find("publishP99"); lat.Comparable || !strings.Contains(lat.Note, "rates differ") {
		t.Errorf("publishP99 at rates 2x apart: %+v, want not comparable", lat)
	}
	md, err := os.ReadFile(rep.Markdown)
	if err != nil || !strings.Contains(string(md), "n/c (") || !strings.Contains(string(md), "+-") {
		t.Errorf("summary.md (%v) lacks not-comparable cells or intervals:\n%s", err, md)
	}
}

// TestRepeatInterleavesSystems: repetitions run in rounds over the
// systems (A B A B), not all of A then all of B.
func TestRepeatInterleavesSystems(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	var order []string
	out, err := suite.Run(t.Context(), suite.Config{
		Workloads: rateWorkload(t, 100), Systems: []string{"refbroker", "redis"}, Out: t.TempDir(), Repeat: 2,
		Runner:  []runner.Option{runner.Interval(100 * time.Millisecond), runner.Duration(300 * time.Millisecond)},
		OnStart: func(w workloads.Workload, system string) { order = append(order, system) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"refbroker", "redis", "refbroker", "redis"}; !slices.Equal(order, want) {
		t.Fatalf("run order %v, want %v", order, want)
	}
	if !slices.ContainsFunc(out.Checks, func(c gate.Check) bool { return c.System == "redis" && c.Name == "run (repetition 2 of 2)" }) {
		t.Errorf("checks %+v do not name their repetition", out.Checks)
	}
	var files []string
	for _, r := range out.Results {
		files = append(files, r.Repeat.FileName(r.Workload, r.Driver))
	}
	if want := []string{"repeat-rate.refbroker.rep1.json", "repeat-rate.redis.rep1.json", "repeat-rate.refbroker.rep2.json", "repeat-rate.redis.rep2.json"}; !slices.Equal(files, want) {
		t.Fatalf("files %v, want %v", files, want)
	}
}

func TestRepeatRejectsNegative(t *testing.T) {
	t.Parallel()
	_, err := suite.Run(t.Context(), suite.Config{Out: t.TempDir(), Repeat: -1})
	if !errors.Is(err, suite.ErrUsage) || !strings.Contains(err.Error(), "repeat -1") {
		t.Fatalf("err = %v, want a usage error naming the repeat count", err)
	}
}

// requireRedis skips the test, naming the missing server, when Redis does
// not listen on 127.0.0.1:6379; under CI=true it fails instead.
func requireRedis(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis on 127.0.0.1:6379 is required under CI=true: %v", err)
		}
		t.Skipf("Redis is not running on 127.0.0.1:6379: %v", err)
	}
	c.Close()
}
