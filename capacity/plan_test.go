package capacity

import (
	"strconv"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/stats"
)

// point is a search at p partitions that found mean msg/s with the given
// interval, at p99 end-to-end < 50ms, 1 KiB messages, one subscription.
func point(p int, mean, low, high float64) Measured {
	return Measured{Label: "p" + strconv.Itoa(p), Partitions: p, Producers: 1, Consumers: 1, Subscriptions: 1, Brokers: 1, MessageSize: 1024,
		Objective: Objective{Percentile: 99, BelowMs: 50, Of: OfEndToEnd, MinAchieved: 0.99},
		Found:     stats.Summary{N: 3, Mean: mean, Low: low, High: high}, Repetitions: 3}
}

func TestMakePlan(t *testing.T) {
	t.Parallel()
	// Total rates rise to 4 partitions, then fall: the ceiling is 30,000 msg/s (lower bound 28,000).
	sweep := []Measured{point(1, 10000, 9000, 11000), point(2, 20000, 19000, 21000), point(4, 30000, 28000, 32000), point(8, 25000, 24000, 26000)}
	strict := Objective{Percentile: 99, BelowMs: 10, Of: OfEndToEnd, MinAchieved: 0.99}
	tests := []struct {
		name       string
		q          Request
		hot        float64
		feasible   bool
		binding    string
		partitions int
		nodes      int
		extrap     bool
		reason     string
	}{
		// 5000 msg/s fits one partition at 70% of 9000.
		{name: "small target", q: Request{Target: 5000, Headroom: 0.3}, feasible: true, binding: BindNone, partitions: 1, nodes: 1},
		// 12000 needs 2 partitions (19000 x 0.7 = 13300).
		{name: "per-partition rate binds", q: Request{Target: 12000, Headroom: 0.3}, feasible: true, binding: BindPartitionRate, partitions: 2, nodes: 1},
		// 3 consumers: the smallest measured setup with at least 3 partitions that sustains 5000 msg/s is 4.
		{name: "consumers bind", q: Request{Target: 5000, Consumers: 3, Headroom: 0.3}, feasible: true, binding: BindConsumers, partitions: 4, nodes: 1},
		// 8 consumers at 20,000 msg/s: 8 partitions sustained only 24000 x 0.7 = 16800.
		{name: "consumers need an unsustaining setup", q: Request{Target: 18000, Consumers: 8, Headroom: 0.3}, binding: BindConsumers, reason: "not reachable"},
		// 12 consumers exceed every measured partition count.
		{name: "consumers beyond measured", q: Request{Target: 5000, Consumers: 12, Headroom: 0.3}, binding: BindConsumers, reason: "not reachable"},
		// Above the ceiling: never feasible, no node count without --extrapolate.
		{name: "above ceiling", q: Request{Target: 100000, Headroom: 0.3}, binding: BindNodeCeiling, reason: "not reachable with the measured setup"},
		// With --extrapolate: an estimate, still not feasible. 100000 / (30000 x 0.7) = 4.8 -> 5 nodes.
		{name: "extrapolated", q: Request{Target: 100000, Headroom: 0.3, Extrapolate: true}, binding: BindNodeCeiling, nodes: 5, extrap: true, reason: "EXTRAPOLATED"},
		// Just above the conservative ceiling: 28000 x 0.7 = 19600 < 20000.
		{name: "just above", q: Request{Target: 20000, Headroom: 0.3}, binding: BindNodeCeiling},
		// One key with 90% of 15000 msg/s needs 13500 on one partition; the best per partition is 9000 x 0.7.
		{name: "hot key cannot fit", q: Request{Target: 15000, Headroom: 0.3, TopKeyShare: 0.9}, binding: BindHotKey, reason: "no partition count"},
		// A hot key estimated from a hot-keys run is used when none is declared.
		{name: "hot key from runs", q: Request{Target: 15000, Headroom: 0.3}, hot: 0.9, binding: BindHotKey},
		{name: "replication", q: Request{Target: 5000, Headroom: 0.3, Replication: 3}, binding: BindReplication},
		{name: "stricter objective", q: Request{Target: 5000, Headroom: 0.3, Objective: &strict}, binding: BindObjective},
		{name: "more fan-out", q: Request{Target: 5000, Headroom: 0.3, FanOut: 3}, binding: BindFanOut},
		{name: "other message size", q: Request{Target: 5000, Headroom: 0.3, MessageSize: 64 << 10}, binding: BindMessageSize},
		// 5 MB/s of 1 KiB messages is 4883 msg/s: one partition.
		{name: "bytes target", q: Request{Target: 5e6, TargetBytes: true, Headroom: 0.3}, feasible: true, binding: BindNone, partitions: 1, nodes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.q.Validate(); err != nil {
				t.Fatal(err)
			}
			p := MakePlan("sys", tt.q, sweep, nil, tt.hot)
			all := strings.Join(p.Reasons, "\n")
			if p.Feasible != tt.feasible || p.Binding != tt.binding || p.Partitions != tt.partitions || p.Nodes != tt.nodes || p.Extrapolated != tt.extrap {
				t.Errorf("feasible %v binding %q partitions %d nodes %d extrapolated %v; want %v %q %d %d %v\n%s",
					p.Feasible, p.Binding, p.Partitions, p.Nodes, p.Extrapolated, tt.feasible, tt.binding, tt.partitions, tt.nodes, tt.extrap, all)
			}
			if !strings.Contains(all, tt.reason) {
				t.Errorf("reasons lack %q:\n%s", tt.reason, all)
			}
			// The invariant the issue asks for: above the measured ceiling is never feasible.
			if p.Target > p.MeasuredCeiling && p.Feasible {
				t.Errorf("target %v above the measured ceiling %v is feasible", p.Target, p.MeasuredCeiling)
			}
		})
	}
}
