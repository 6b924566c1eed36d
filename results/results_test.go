package results

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sampleResult(workload, driver string, partRates ...float64) *Result {
	r := &Result{Status: StatusOK, Workload: workload, Scenario: workload, Driver: driver, MessageSize: 1000, Partitions: len(partRates)}
	for i, rate := range partRates {
		r.PartitionsDetail = append(r.PartitionsDetail, Partition{Partition: int32(i), Rate: rate, MeasuredSent: int64(rate * 10)})
	}
	r.Samples = []Sample{
		{Warmup: true, PublishRate: 1, ConsumeRate: 1},
		{PublishRate: 1000, ConsumeRate: 900, PublishMBps: 1},
		{PublishRate: 1000, ConsumeRate: 300, PublishMBps: 1},
	}
	r.Pauses = []Pause{{Duration: 0.5}, {Duration: 1.5}}
	return r
}

func TestDerive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		r         *Result
		skew, dip float64
		pubRate   float64
	}{
		// Warm-up samples are excluded from every mean.
		{"even partitions", sampleResult("w", "s", 100, 100, 100, 100), 1, 1 - 300.0/600, 1000},
		// One partition with all the traffic: skew equals the count.
		{"one hot partition", sampleResult("w", "s", 400, 0, 0, 0), 4, 1 - 300.0/600, 1000},
		// No partitions, no samples: zeros, not NaN.
		{"empty", &Result{}, 0, 0, 0},
	}
	for _, tt := range tests {
		d := Derive(tt.r)
		if !near(d.Skew, tt.skew) || !near(d.Dip, tt.dip) || !near(d.PublishRate, tt.pubRate) {
			t.Errorf("%s: Derive = skew %v dip %v rate %v; want %v %v %v", tt.name, d.Skew, d.Dip, d.PublishRate, tt.skew, tt.dip, tt.pubRate)
		}
	}
	d := Derive(sampleResult("w", "s", 1))
	if d.Pauses != 2 || !near(d.MaxPause, 1.5) || !near(d.TotalPause, 2) {
		t.Errorf("pauses = %d %v %v", d.Pauses, d.MaxPause, d.TotalPause)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestWriteReadRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := sampleResult("throughput-per-partition[partitionsPerTopic=4]", "refbroker", 10, 20)
	r.Meta.Started = time.Date(2026, 11, 26, 4, 0, 0, 123456789, time.UTC)
	path, err := Write(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "throughput-per-partition_partitionsPerTopic-4.refbroker.json" {
		t.Errorf("file name %s", filepath.Base(path))
	}
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Workload != r.Workload || back.SchemaVersion != SchemaVersion || !back.Meta.Started.Equal(r.Meta.Started) || len(back.PartitionsDetail) != 2 {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestReadDirAcceptsOMBAndReportsOthers(t *testing.T) {
	t.Parallel()
	rs, skipped, err := ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Driver != "Kafka" || rs[0].AggregatedPublishLatency99pct != 6.5 || len(rs[0].PublishRate) != 2 {
		t.Fatalf("OMB result not read: %+v", rs)
	}
	if pub, _, _ := rs[0].MeanRates(); rs[0].Status != StatusOK || pub < 49000 {
		t.Errorf("OMB result: status %q, mean publish rate %v (want ok and about 50k from its arrays)", rs[0].Status, pub)
	}
	if len(skipped) != 1 || filepath.Base(skipped[0]) != "other.json" {
		t.Errorf("skipped = %v", skipped)
	}
}

func TestReadDirSkipsVerdicts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Write(dir, sampleResult("w", "refbroker", 1)); err != nil {
		t.Fatal(err)
	}
	verdict := `{"valid": true, "model": "log", "events": 12, "anomalies": {}}`
	if err := os.WriteFile(filepath.Join(dir, "w.refbroker.verdict.json"), []byte(verdict), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, skipped, err := ReadDir(dir)
	if err != nil || len(rs) != 1 || len(skipped) != 1 {
		t.Fatalf("ReadDir = %d results, skipped %v, err %v", len(rs), skipped, err)
	}
}

func TestReadRejectsNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(path, []byte(`{"schemaVersion": 99, "workload": "w", "driver": "d"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "upgrade brokerbench") {
		t.Errorf("Read of a newer schema: %v", err)
	}
}

func TestWriteScenarios(t *testing.T) {
	t.Parallel()
	var sweep []*Result
	for _, n := range []string{"4", "1"} {
		r := sampleResult("tpp["+n+"]", "refbroker", 100)
		r.Scenario, r.Report, r.Sweep = "tpp", []string{"per-partition"}, map[string]string{"partitionsPerTopic": n}
		r.Partitions, _ = strconv.Atoi(n)
		sweep = append(sweep, r)
	}
	hot := sampleResult("hot[HOT]", "refbroker", 800, 100, 100)
	uni := sampleResult("hot[UNIFORM]", "refbroker", 300, 300, 300)
	for i, r := range []*Result{hot, uni} {
		r.Scenario, r.Report = "hot", []string{"skew"}
		r.Sweep = map[string]string{"keyDistributor": []string{"HOT", "UNIFORM"}[i]}
	}
	hot.Latency.EndToEnd.P99, uni.Latency.EndToEnd.P99 = 30, 10
	storm := sampleResult("storm", "refbroker", 1)
	storm.Report, storm.Counts.Rebalances, storm.Counts.Duplicates = []string{"rebalance"}, 3, 42

	var buf bytes.Buffer
	if err := WriteScenarios(&buf, append(sweep, hot, uni, storm)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"throughput by partition count", "key skew (penalty against keyDistributor=UNIFORM)", "3.00x", "consumer churn", "42"} {
		if !strings.Contains(out, want) {
			t.Errorf("scenario output lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "   1 ") > strings.Index(out, "   4 ") {
		t.Errorf("sweep rows not ordered by partitions:\n%s", out)
	}
}
