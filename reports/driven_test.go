package reports

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/results"
)

// TestDrivenLines: the systems page says how a run drove its system, from
// the mapping and the spec as a result file holds them (decoded JSON).
func TestDrivenLines(t *testing.T) {
	var spec any
	if err := json.Unmarshal([]byte(`{"ProducersPerTopic": 2, "Delivery": {"Acks": "all", "Idempotent": true, "Linger": 1000000,
		"MaxInFlight": 1000, "Compression": "none", "CommitMode": "interval", "CommitInterval": 1000000000}}`), &spec); err != nil {
		t.Fatal(err)
	}
	res := &results.Result{Status: results.StatusOK, Spec: spec}
	res.Meta.Mapping = &adapters.Mapping{Partition: "a stream", Member: "local group", Ack: "XACK", Commit: "the XACK reply"}
	res.Meta.Client = []adapters.ClientSetting{{Name: "linger", Value: "10ms", Reason: "kgo's default"}, {Name: "idempotent", Value: "true"}}
	got := strings.Join(drivenLines(&Run{Result: res}), "\n")
	for _, want := range []string{"adapter: linger 10ms; idempotent true", "partition = a stream", "commit = the XACK reply", "acks all, idempotent, 2 producer(s) per topic, linger 1ms", "commit/ack every 1s", "prefetch adapter default"} {
		if !strings.Contains(got, want) {
			t.Errorf("driven lines\n%s\nlack %q", got, want)
		}
	}
	if lines := drivenLines(&Run{Result: &results.Result{}}); len(lines) != 0 {
		t.Errorf("a result without mapping or spec gives %q", lines)
	}
}
