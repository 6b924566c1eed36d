package reports

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// specDelivery is the part of a result's spec (the workload as run, see
// workloads.Delivery) that says how producers and consumers were driven.
// It is decoded from the result file rather than typed, since results
// keep the spec as written.
type specDelivery struct {
	Delivery struct {
		Acks           string
		Idempotent     *bool
		Linger         time.Duration
		BatchBytes     int
		Compression    string
		MaxInFlight    int
		CommitMode     string
		CommitInterval time.Duration
		Prefetch       int
	}
	ProducersPerTopic int
}

// drivenLines describe how a run drove its system, for the systems page:
// the adapter's mapping of the workload concepts, the effective settings
// the adapter reported (results.Meta.Client) and the client settings from
// the run's spec. Empty when the result carries neither.
func drivenLines(r *Run) []string {
	var out []string
	if m := r.Meta.Mapping; m != nil {
		out = append(out, fmt.Sprintf("  mapping: partition = %s; member = %s; ack = %s; commit = %s", m.Partition, m.Member, m.Ack, m.Commit))
	}
	if len(r.Meta.Client) > 0 {
		parts := make([]string, 0, len(r.Meta.Client))
		for _, c := range r.Meta.Client {
			parts = append(parts, c.Name+" "+c.Value)
		}
		out = append(out, "  adapter: "+strings.Join(parts, "; "))
	}
	raw, err := json.Marshal(r.Spec)
	if err != nil || r.Spec == nil {
		return out
	}
	var s specDelivery
	if json.Unmarshal(raw, &s) != nil || s.Delivery.Acks == "" {
		return out
	}
	d := s.Delivery
	parts := []string{"acks " + d.Acks}
	if d.Idempotent != nil && *d.Idempotent {
		parts = append(parts, "idempotent")
	}
	parts = append(parts, fmt.Sprintf("%d producer(s) per topic", s.ProducersPerTopic),
		fmt.Sprintf("linger %v", d.Linger), "batch "+orDefault(d.BatchBytes, "B"), "compression "+d.Compression,
		fmt.Sprintf("max in flight %d", d.MaxInFlight))
	switch d.CommitMode {
	case "interval":
		parts = append(parts, fmt.Sprintf("commit/ack every %v", d.CommitInterval))
	default:
		parts = append(parts, "commit/ack "+d.CommitMode)
	}
	parts = append(parts, "prefetch "+orDefault(d.Prefetch, ""))
	return append(out, "  client: "+strings.Join(parts, ", "))
}

func orDefault(v int, unit string) string {
	if v == 0 {
		return "adapter default"
	}
	return fmt.Sprintf("%d%s", v, unit)
}
