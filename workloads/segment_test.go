package workloads

import (
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/chaos"
)

func TestParseSegment(t *testing.T) {
	tests := []struct {
		in      string
		want    Segment
		wantErr bool
	}{
		{"0/1", Segment{0, 1}, false},
		{"2/3", Segment{2, 3}, false},
		{" 1/4 ", Segment{1, 4}, false},
		{"3/3", Segment{}, true},
		{"-1/3", Segment{}, true},
		{"0/0", Segment{}, true},
		{"1", Segment{}, true},
		{"a/b", Segment{}, true},
	}
	for _, tt := range tests {
		got, err := ParseSegment(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseSegment(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("ParseSegment(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestSegmentSharePartitions checks that the shards' shares of every
// quantity are disjoint, cover it exactly, and differ by at most one.
func TestSegmentSharePartitions(t *testing.T) {
	for count := 1; count <= 9; count++ {
		for n := 0; n <= 40; n++ {
			next, minSize, maxSize := 0, n, 0
			for i := range count {
				lo, hi := Segment{i, count}.Share(n)
				if lo != next || hi < lo {
					t.Fatalf("n=%d count=%d shard %d: [%d,%d) does not follow %d", n, count, i, lo, hi, next)
				}
				next = hi
				minSize, maxSize = min(minSize, hi-lo), max(maxSize, hi-lo)
			}
			if next != n {
				t.Fatalf("n=%d count=%d: shares end at %d", n, count, next)
			}
			if maxSize-minSize > 1 {
				t.Fatalf("n=%d count=%d: share sizes %d..%d differ by more than one", n, count, minSize, maxSize)
			}
		}
	}
}

func TestSplit(t *testing.T) {
	w := Workload{Name: "w", Topics: 2, ProducersPerTopic: 5, ConsumerPerSubscription: 4, ProducerRate: 1000}
	tests := []struct {
		seg           Segment
		producers     [][]uint32
		consLo, consH int
		rate          float64
		creates       bool
	}{
		{Segment{0, 3}, [][]uint32{{0}, {5}}, 0, 1, 200, true},
		{Segment{1, 3}, [][]uint32{{1, 2}, {6, 7}}, 1, 2, 400, false},
		{Segment{2, 3}, [][]uint32{{3, 4}, {8, 9}}, 2, 4, 400, false},
		{Whole, [][]uint32{{0, 1, 2, 3, 4}, {5, 6, 7, 8, 9}}, 0, 4, 1000, true},
	}
	var rate float64
	for _, tt := range tests {
		p := Split(w, tt.seg)
		if len(p.Producers) != len(tt.producers) {
			t.Fatalf("%v: producers %v, want %v", tt.seg, p.Producers, tt.producers)
		}
		for i := range p.Producers {
			if len(p.Producers[i]) != len(tt.producers[i]) {
				t.Fatalf("%v: producers %v, want %v", tt.seg, p.Producers, tt.producers)
			}
			for j := range p.Producers[i] {
				if p.Producers[i][j] != tt.producers[i][j] {
					t.Fatalf("%v: producers %v, want %v", tt.seg, p.Producers, tt.producers)
				}
			}
		}
		if p.ConsumersLo != tt.consLo || p.ConsumersHi != tt.consH {
			t.Errorf("%v: consumers [%d,%d), want [%d,%d)", tt.seg, p.ConsumersLo, p.ConsumersHi, tt.consLo, tt.consH)
		}
		if p.Rate != tt.rate {
			t.Errorf("%v: rate %v, want %v", tt.seg, p.Rate, tt.rate)
		}
		if p.CreatesTopics != tt.creates {
			t.Errorf("%v: creates topics %v, want %v", tt.seg, p.CreatesTopics, tt.creates)
		}
		if tt.seg.Count == 3 {
			rate += p.Rate
		}
	}
	if rate != w.ProducerRate {
		t.Errorf("shard rates sum to %v, want %v", rate, w.ProducerRate)
	}
}

func TestCheckShardable(t *testing.T) {
	tests := []struct {
		name string
		w    Workload
		want string // in the error; "" for none
	}{
		{"plain", Workload{}, ""},
		{"queue", Workload{Queue: &Queue{}}, ""},
		{"churn", Workload{Churn: &Churn{Interval: time.Second}}, ""},
		{"backlog", Workload{ConsumerBacklogSizeGB: 0.01}, ""},
		{"chaos", Workload{Chaos: &chaos.Spec{}}, "chaos: a fault schedule acts on brokers every shard shares"},
		{"maxRate", Workload{MaxRate: &MaxRate{}}, ""}, // the coordinator runs the search
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.w.Name = tt.name
			err := CheckShardable(tt.w, 3)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
