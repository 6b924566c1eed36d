package reports

import (
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/results"
)

func TestDurabilityWarning(t *testing.T) {
	run := func(label string, d *adapters.DurabilityReport) *Run {
		res := &results.Result{Status: results.StatusOK}
		res.Meta.Durability = d
		return &Run{Result: res, Label: label}
	}
	async := &adapters.DurabilityReport{Effective: adapters.DurabilityAsyncDisk}
	mem := &adapters.DurabilityReport{Effective: adapters.DurabilityMemory}
	short := &adapters.DurabilityReport{Requested: adapters.DurabilitySyncDisk, Effective: adapters.DurabilityAsyncDisk}
	for _, tc := range []struct {
		name string
		runs []*Run
		want string // "" for no warning
	}{
		{"one system", []*Run{run("a", async)}, ""},
		{"same level", []*Run{run("a", async), run("b", async)}, ""},
		{"different", []*Run{run("refbroker", async), run("redis", mem)}, "refbroker async-disk, redis memory"},
		{"unknown counts as different", []*Run{run("a", async), run("b", nil)}, "b unknown"},
		{"same effective level, one short of its request", []*Run{run("a", async), run("b", short)}, ""},
		{"the warning shows the request", []*Run{run("a", mem), run("b", short)}, "b async-disk (requested sync-disk)"},
	} {
		got := durabilityWarning(tc.runs)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: warning %q, want one containing %q", tc.name, got, tc.want)
		}
	}
}
