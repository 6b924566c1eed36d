package distributed

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/results"
)

// shardResult builds a shard's result whose end-to-end histogram holds
// values; the runner fills results the same way (results.SetLatencies).
func shardResult(t *testing.T, index, count int, values []int64) *results.Result {
	t.Helper()
	h := metrics.NewHistogram()
	for _, v := range values {
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	r := &results.Result{Workload: "w", Driver: "d", ProducersPerTopic: count, Status: results.StatusOK,
		Shard: &results.Shard{Index: index, Count: count, RunID: "run1"}}
	hs := results.LatencyHistograms{Publish: h, PublishFromSend: h, PublishDelay: h, EndToEnd: h, EndToEndFromSend: h}
	if err := r.SetLatencies(hs, 0); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMergePercentilesEqualUnion proves the merge exact: the merged
// percentiles are those of one histogram holding every shard's values.
func TestMergePercentilesEqualUnion(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	union := metrics.NewHistogram()
	var shards []*results.Result
	for i := range 3 {
		var vs []int64
		// Different distributions per shard, so that averaging the
		// shards' percentiles would be visibly wrong.
		for range 20000 + 5000*i {
			v := int64(100*(i+1)) + int64(rnd.ExpFloat64()*float64(500*(i+1)))
			vs = append(vs, v)
			if err := union.RecordValue(v); err != nil {
				t.Fatal(err)
			}
		}
		shards = append(shards, shardResult(t, i, 3, vs))
	}
	merged, err := Merge(shards, results.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := metrics.Summarize(union)
	got := merged.Latency.EndToEndFromSend
	if got != want {
		t.Errorf("merged end-to-end summary\n got %+v\nwant %+v (the union's)", got, want)
	}
	if merged.AggregatedEndToEndLatency99pct != want.P99 || merged.AggregatedPublishLatency9999pct != want.P9999 {
		t.Errorf("aggregated p99 %v / p99.99 %v, want %v / %v", merged.AggregatedEndToEndLatency99pct, merged.AggregatedPublishLatency9999pct, want.P99, want.P9999)
	}
	for q, v := range metrics.QuantileMap(union) {
		if merged.AggregatedEndToEndLatencyQuantiles[q] != v {
			t.Errorf("quantile %s: got %v, want %v", q, merged.AggregatedEndToEndLatencyQuantiles[q], v)
		}
	}
	if merged.Shard != nil {
		t.Error("merged result still marked as a shard")
	}
}

// TestMergeCountsAcrossShards: shard 0's producer 0 sent 0..9, shard 1's
// producer 1 sent 0..9; shard 0's consumer received 0..4 of producer 1,
// shard 1's received 3..9 of producer 1 and all of producer 0 but 7.
// Per shard, shard 0 would "lose" producer 0's messages; merged, only
// producer 0's 7 is lost and producer 1's 3, 4 are duplicates.
func TestMergeCountsAcrossShards(t *testing.T) {
	a := shardResult(t, 0, 2, nil)
	b := shardResult(t, 1, 2, nil)
	a.Shard.Acked = map[string]results.SeqRanges{"0": {{0, 9}}}
	b.Shard.Acked = map[string]results.SeqRanges{"1": {{0, 9}}}
	a.Shard.Received = map[string]results.SubscriptionSeqs{"s": {Topic: 0, Producers: map[string]results.SeqRanges{"1": {{0, 4}}}}}
	b.Shard.Received = map[string]results.SubscriptionSeqs{"s": {Topic: 0, Producers: map[string]results.SeqRanges{"1": {{3, 9}}, "0": {{0, 6}, {8, 9}}}}}
	a.Counts = results.Counts{Sent: 10, Acked: 10, Received: 5, Lost: 10}
	b.Counts = results.Counts{Sent: 10, Acked: 10, Received: 16, Lost: 0}
	m, err := Merge([]*results.Result{b, a}, results.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := results.Counts{Sent: 20, Acked: 20, Received: 21, Duplicates: 2, Lost: 1}
	if m.Counts != want {
		t.Errorf("merged counts\n got %+v\nwant %+v", m.Counts, want)
	}
}

func TestMergeRejectsMismatchedShards(t *testing.T) {
	other := shardResult(t, 1, 3, nil)
	other.Shard.RunID = "run2"
	rep1, rep2 := shardResult(t, 0, 2, nil), shardResult(t, 1, 2, nil)
	rep1.Repeat, rep2.Repeat = &results.Repeat{Index: 1, Of: 2}, &results.Repeat{Index: 2, Of: 2}
	tests := []struct {
		name   string
		shards []*results.Result
		want   string
	}{
		{"none", nil, "no shard results"},
		{"not a shard", []*results.Result{{Workload: "w", Driver: "d"}}, "not a shard's"},
		{"missing", []*results.Result{shardResult(t, 0, 3, nil), shardResult(t, 2, 3, nil)}, "missing shard(s) 1 of 3"},
		{"twice", []*results.Result{shardResult(t, 0, 2, nil), shardResult(t, 0, 2, nil)}, "appears twice"},
		{"other run", []*results.Result{shardResult(t, 0, 3, nil), other}, "different runs"},
		// The same run id, as a hand-made one could give: still two runs.
		{"other repetition", []*results.Result{rep1, rep2}, "different repetitions"},
	}
	for _, tt := range tests {
		_, err := Merge(tt.shards, results.DefaultLimits())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestMergeSamplesAligned(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := shardResult(t, 0, 2, nil)
	b := shardResult(t, 1, 2, nil)
	warm := results.Sample{Time: t0.Add(-time.Second), Elapsed: -0.5, Warmup: true, PublishRate: 1}
	a.Samples = append(a.Samples, warm)
	b.Samples = append(b.Samples, warm)
	for i := range 3 {
		// Jitter straddling the half interval, as the sampler's ticks do.
		a.Samples = append(a.Samples, results.Sample{Time: t0.Add(time.Duration(i) * time.Second), Elapsed: float64(i) + 0.5, PublishRate: 10, Backlog: 1})
		b.Samples = append(b.Samples, results.Sample{Time: t0.Add(time.Duration(i)*time.Second + 30*time.Millisecond), Elapsed: float64(i) + 0.49, PublishRate: 5, Backlog: 2})
	}
	m, err := Merge([]*results.Result{a, b}, results.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Samples) != 4 || !m.Samples[0].Warmup || m.Samples[0].PublishRate != 2 {
		t.Fatalf("merged samples %+v, want a warm-up one then 3", m.Samples)
	}
	if len(m.PublishRate) != 3 {
		t.Fatalf("merged %d samples, want 3: %+v", len(m.PublishRate), m.Samples)
	}
	for i, r := range m.PublishRate {
		if r != 15 || m.Backlog[i] != 3 {
			t.Errorf("sample %d: rate %v backlog %d, want 15 and 3", i, r, m.Backlog[i])
		}
	}
}

// TestMergeQueueAndBacklog: queue counts are summed, poison messages
// (never accepted, by design) are not lost, the dead-letter count is the
// largest reading, and the backlog phase keeps the shards' common instants
// with summed counts, so its drain time and rate are the whole run's.
func TestMergeQueueAndBacklog(t *testing.T) {
	built := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	drained := built.Add(2 * time.Second)
	a, b := shardResult(t, 0, 2, []int64{1}), shardResult(t, 1, 2, []int64{2})
	// Producer 0 (shard a) acknowledged 0..9, of which 3 and 7 are
	// poison; shard b's consumers received the other eight.
	a.Shard.Acked = map[string]results.SeqRanges{"0": {{0, 9}}}
	a.Shard.Poison = map[string]int64{"0": 2}
	b.Shard.Received = map[string]results.SubscriptionSeqs{"s": {Topic: 0, Producers: map[string]results.SeqRanges{"0": {{0, 2}, {4, 6}, {8, 9}}}}}
	a.Counts = results.Counts{Sent: 10, Acked: 10, PoisonAcked: 2, Released: 6, Redelivered: 3, DeadLettered: 1}
	b.Counts = results.Counts{Received: 8, Released: 4, Redelivered: 3, DeadLettered: 2}
	a.BacklogPhase = &results.BacklogPhase{Built: built, Drained: drained, BuiltMessages: 600, LeftMessages: 10, Consumed: 300}
	b.BacklogPhase = &results.BacklogPhase{Built: built, Drained: drained, BuiltMessages: 400, LeftMessages: -5, Consumed: 500}
	m, err := Merge([]*results.Result{a, b}, results.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	c := m.Counts
	if c.Lost != 0 || c.PoisonAcked != 2 || c.Released != 10 || c.Redelivered != 6 || c.DeadLettered != 2 {
		t.Errorf("merged counts %+v: want nothing lost, 2 poison, 10 released, 6 redelivered, 2 dead-lettered", c)
	}
	want := results.BacklogPhase{Built: built, Drained: drained, BuiltMessages: 1000, LeftMessages: 5, Consumed: 800}
	if m.BacklogPhase == nil || *m.BacklogPhase != want {
		t.Fatalf("merged backlog phase %+v, want %+v", m.BacklogPhase, want)
	}
	if got := m.BacklogPhase.DrainRate(); got != 400 {
		t.Errorf("drain rate %v msg/s, want 800 messages over 2s = 400", got)
	}
}

// TestMergeAllByRepetition: shards of two repetitions (run --repeat 2)
// merge per repetition, never across, even under one run id; each merged
// result keeps its repetition without the shards' summary, and counts
// only its own shards' messages.
func TestMergeAllByRepetition(t *testing.T) {
	var shards []Located
	for _, rep := range []int{1, 2} {
		for i := range 2 {
			r := shardResult(t, i, 2, nil)
			r.Counts.Sent = int64(10*rep + i)
			r.Repeat = &results.Repeat{Index: rep, Of: 2, Files: []string{"shard's own"}}
			shards = append(shards, Located{Result: r})
		}
	}
	merged, err := MergeAll(shards, t.TempDir(), results.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(merged) != 2 {
		t.Fatalf("%d merged results, want one per repetition", len(merged))
	}
	for i, m := range merged {
		rep := i + 1
		if r := m.Repeat; r == nil || r.Index != rep || r.Of != 2 || r.Files != nil || r.Summary != nil {
			t.Errorf("merged result %d: repeat %+v, want %d of 2 without files or summary", i, m.Repeat, rep)
		}
		if want := int64(10*rep + 10*rep + 1); m.Counts.Sent != want {
			t.Errorf("repetition %d: sent %d, want %d (its shards' sum)", rep, m.Counts.Sent, want)
		}
	}
}
