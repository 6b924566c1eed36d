package runner

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/workloads"
)

func TestHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []header{
		{producer: 0, seq: 0, intended: 0, sent: 0},
		{producer: 7, seq: 1 << 40, intended: 123456789, sent: 123456999},
		{producer: math.MaxUint32, seq: math.MaxUint64, intended: -5, sent: math.MaxInt64, probe: true},
	}
	for _, h := range tests {
		b := make([]byte, HeaderSize+10)
		putHeader(b, h)
		got, ok := parseHeader(b)
		if !ok || got != h {
			t.Errorf("round trip of %+v = %+v, %v", h, got, ok)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, HeaderSize), []byte("bB\x02" + string(make([]byte, 29)))} {
		if _, ok := parseHeader(bad); ok {
			t.Errorf("parseHeader(%q) accepted a foreign message", bad)
		}
	}
}

func TestBitset(t *testing.T) {
	t.Parallel()
	var acked, seen bitset
	for i := uint64(0); i < 1000; i++ {
		acked.set(i)
		if i%10 != 3 {
			seen.set(i)
		}
	}
	if seen.set(5) != true {
		t.Error("second set of 5 not reported as duplicate")
	}
	if got := seen.missing(&acked); got != 100 {
		t.Errorf("missing = %d, want 100", got)
	}
	if !acked.has(999) || acked.has(1000) || acked.has(1<<30) {
		t.Error("has is wrong at the edges")
	}
}

func TestApplicable(t *testing.T) {
	t.Parallel()
	all := adapters.Capabilities{Partitions: true, ConsumerGroups: true, Rebalance: true, StaticMembership: true}
	tests := []struct {
		name string
		w    workloads.Workload
		caps adapters.Capabilities
		want string // substring of the reason; "" = applicable
	}{
		{"plain workload runs anywhere", workloads.Workload{PartitionsPerTopic: 1, ConsumerPerSubscription: 1}, adapters.Capabilities{}, ""},
		{"partitions need partitions", workloads.Workload{PartitionsPerTopic: 4}, adapters.Capabilities{}, "needs partitions"},
		{"groups need groups", workloads.Workload{ConsumerPerSubscription: 3}, adapters.Capabilities{Partitions: true}, "consumer groups"},
		{"static churn needs static membership", workloads.Workload{ConsumerPerSubscription: 2, Churn: &workloads.Churn{Membership: "static"}},
			adapters.Capabilities{ConsumerGroups: true}, "static membership"},
		{"everything on a full system", workloads.Workload{PartitionsPerTopic: 8, ConsumerPerSubscription: 4, Churn: &workloads.Churn{Membership: "static"}}, all, ""},
	}
	for _, tt := range tests {
		got := Applicable(tt.w, tt.caps)
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("%s: Applicable = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestTopicBase(t *testing.T) {
	t.Parallel()
	tests := []struct{ workload, want string }{
		{"smoke", "bb-smoke-abcd"},
		{"throughput-per-partition[partitionsPerTopic=4]", "bb-throughput-per-partition-partitionspertopic-4-abcd"},
		{"Hot Keys!", "bb-hot-keys-abcd"},
	}
	for _, tt := range tests {
		if got := topicBase(tt.workload, "abcd"); got != tt.want {
			t.Errorf("topicBase(%q) = %q, want %q", tt.workload, got, tt.want)
		}
	}
}

// TestNotePause feeds one partition's delivery times to the pause detector:
// a regular 1 msg/s stream after a long warm-up has no pause (the mean gap
// is over measured deliveries only), and a real 30 s gap is one pause.
func TestNotePause(t *testing.T) {
	t.Parallel()
	sec := int64(time.Second)
	tests := []struct {
		name       string
		deliveries []int64 // seconds since epoch; measurement starts at 60
		want       int
	}{
		{"regular after a long warm-up", seq(1, 70), 0},
		{"a 30s stall", append(seq(1, 65), 95, 96, 97), 1},
	}
	for _, tt := range tests {
		r := &run{}
		r.measureStart.Store(60 * sec)
		s := newSubscription(r, 0, "s", 1, 1)
		for _, at := range tt.deliveries {
			s.recvPart[0]++
			s.notePause(0, at*sec)
		}
		if len(s.pauses) != tt.want {
			t.Errorf("%s: %d pauses %v, want %d", tt.name, len(s.pauses), s.pauses, tt.want)
		}
	}
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}
