package workloads

import (
	"fmt"
	"strconv"
	"strings"
)

// Segment is shard Index of Count: the part of a workload one worker of a
// distributed run offers. As k6's execution segments, shard i owns the
// half-open interval [i/Count, (i+1)/Count) of every integer quantity it
// splits, so the Count shards together own each quantity exactly once,
// whatever the remainders (see [Segment.Share]).
type Segment struct {
	Index, Count int
}

// Whole is the segment of an undistributed run: shard 0 of 1.
var Whole = Segment{Index: 0, Count: 1}

// ParseSegment reads "i/n" (0 <= i < n), the form of `run --shard`.
func ParseSegment(s string) (Segment, error) {
	is, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Segment{}, fmt.Errorf("shard %q: want i/n, e.g. 0/3 for the first of three shards", s)
	}
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if err1 != nil || err2 != nil {
		return Segment{}, fmt.Errorf("shard %q: want two integers i/n, e.g. 0/3", s)
	}
	seg := Segment{Index: i, Count: n}
	return seg, seg.Validate()
}

// Validate checks 0 <= Index < Count.
func (s Segment) Validate() error {
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard %d/%d: want 0 <= index < count and count >= 1", s.Index, s.Count)
	}
	return nil
}

// String is the "i/n" form.
func (s Segment) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Distributed reports whether the segment is a proper part of a run.
func (s Segment) Distributed() bool { return s.Count > 1 }

// Share returns the half-open range [lo, hi) of 0..n-1 this segment owns:
// lo = floor(n*i/Count), hi = floor(n*(i+1)/Count). The ranges of all
// segments partition 0..n-1, and their sizes differ by at most one.
func (s Segment) Share(n int) (lo, hi int) {
	return n * s.Index / s.Count, n * (s.Index + 1) / s.Count
}

// ShardPlan is what one segment of a workload runs. Producers are numbered
// globally, topic by topic (topic t's producers are t*ProducersPerTopic
// ... (t+1)*ProducersPerTopic-1), and every shard uses the global number as
// the producer id in message headers and as the seed of its key chooser:
// the shards together send exactly the messages, keys and rate of the whole
// workload, and (producer id, sequence number) stays unique across them.
type ShardPlan struct {
	Segment Segment
	// Producers lists the global producer ids this shard runs, by topic.
	Producers [][]uint32
	// Consumers is the range [lo, hi) of each subscription's consumer
	// indexes (0..ConsumerPerSubscription-1) this shard runs.
	ConsumersLo, ConsumersHi int
	// Rate is the shard's share of ProducerRate (msg/s; 0 = unlimited):
	// each producer sends ProducerRate/(Topics*ProducersPerTopic).
	Rate float64
	// CreatesTopics says whether this shard creates and deletes the
	// topics: shard 0 only.
	CreatesTopics bool
}

// Split returns the plan of segment s of w. Producers and consumers are
// split per topic and per subscription, so each topic keeps producers and
// consumers in as many shards as it can; partitions are split among the
// shards' consumers by the system's group protocol, as on one machine.
func Split(w Workload, s Segment) ShardPlan {
	p := ShardPlan{Segment: s, CreatesTopics: s.Index == 0}
	lo, hi := s.Share(w.ProducersPerTopic)
	n := 0
	for t := range w.Topics {
		var ids []uint32
		for k := lo; k < hi; k++ {
			ids = append(ids, uint32(t*w.ProducersPerTopic+k))
		}
		p.Producers = append(p.Producers, ids)
		n += len(ids)
	}
	p.ConsumersLo, p.ConsumersHi = s.Share(w.ConsumerPerSubscription)
	if total := w.Topics * w.ProducersPerTopic; w.ProducerRate > 0 && total > 0 {
		p.Rate = w.ProducerRate * float64(n) / float64(total)
	}
	return p
}

// CheckShardable says why w cannot run split into count shards, or nil.
// Backlog, queue, churn and maxRate workloads run sharded
// (docs/distributed.md); chaos workloads do not, for the reason and with
// the remedy its message gives.
func CheckShardable(w Workload, count int) error {
	var why []string
	if w.Chaos != nil {
		why = append(why, "chaos: a fault schedule acts on brokers every shard shares and on each worker's own proxies and clients, "+
			"so injected by every shard it would strike n times, and by one shard it would cut only that worker's clients; run it on one worker")
	}
	if len(why) > 0 {
		return fmt.Errorf("workload %s cannot run sharded over %d workers: %s (docs/distributed.md)", w.Name, count, strings.Join(why, "; "))
	}
	return nil
}
