package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// recorded is a refbroker capacity-partitions sweep recorded for the
// report tests: found rates of a few thousand msg/s.
const recorded = "../../reports/testdata/capacity"

func TestPlanCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		// 1 MB/s of 1 KiB messages is about 1000 msg/s: within what was measured.
		{name: "feasible", args: []string{"--target-throughput", "1MB/s"}, code: exitOK, want: "binding:"},
		// Far above the measured ceiling: not feasible, exit 1, the ceiling named.
		{name: "above the ceiling", args: []string{"--target-throughput", "1GB/s"}, code: exitFailed, want: "NOT REACHABLE with the measured setup"},
		// --extrapolate gives an estimate but stays not feasible.
		{name: "extrapolated", args: []string{"--target-throughput", "1GB/s", "--extrapolate"}, code: exitFailed, want: "EXTRAPOLATED"},
		// Nothing was measured at p99 < 1ms.
		{name: "stricter objective", args: []string{"--target-throughput", "1MB/s", "--latency", "p99<1ms"}, code: exitFailed, want: "binding: latency objective"},
		{name: "bad objective", args: []string{"--target-throughput", "1MB/s", "--latency", "99<1ms"}, code: exitUsage},
		{name: "unknown system", args: []string{"--target-throughput", "1MB/s", "--system", "kafka"}, code: exitUsage},
	}
	for _, tt := range tests {
		code, out, errOut := run(t, append([]string{"plan", "--results", recorded}, tt.args...)...)
		if code != tt.code || !strings.Contains(out+errOut, tt.want) {
			t.Errorf("%s: exit %d, want %d, output lacks %q?\n%s%s", tt.name, code, tt.code, tt.want, out, errOut)
		}
	}
}

func TestPlanJSON(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, "plan", "--results", recorded, "--target-throughput", "1GB/s", "--json")
	if code != exitFailed {
		t.Errorf("exit %d for a target above the ceiling, want %d", code, exitFailed)
	}
	var plans []map[string]any
	if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	p := plans[0]
	for _, k := range []string{"system", "target", "measuredCeiling", "fittedMax", "saturatedAt", "partitions", "nodes", "feasible", "extrapolated", "binding", "reasons"} {
		if _, ok := p[k]; !ok {
			t.Errorf("plan --json lacks %q", k)
		}
	}
	if p["feasible"] != false || p["extrapolated"] != false {
		t.Errorf("feasible %v extrapolated %v, want false false", p["feasible"], p["extrapolated"])
	}
}
