package results

import (
	"slices"
	"time"
)

// Shard identifies one shard's result in a distributed run
// (docs/distributed.md) and carries what merging needs beyond the
// counters: a message may be sent by one shard and received by another,
// so losses and duplicates are decided from the shards' sequence sets
// together, never per shard.
type Shard struct {
	// Index and Count: this is shard Index of Count.
	Index int `json:"index"`
	Count int `json:"count"`
	// RunID is shared by the shards of one run (it names the topics).
	RunID string `json:"runId"`
	// Acked maps a producer id to the sequence numbers it had
	// acknowledged.
	Acked map[string]SeqRanges `json:"acked"`
	// Poison maps a producer id to its acknowledged poison messages
	// (queue workloads): never accepted by design, so not lost.
	Poison map[string]int64 `json:"poison,omitempty"`
	// Received maps a subscription to what this shard's consumers
	// received on it.
	Received map[string]SubscriptionSeqs `json:"received"`
	// Epoch is the wall-clock instant the shard's history times and
	// header times count from; merging aligns histories on it.
	Epoch time.Time `json:"epoch"`
}

// SubscriptionSeqs is what one shard received on one subscription.
type SubscriptionSeqs struct {
	// Topic is the index of the subscription's topic (producer ids
	// Topic*ProducersPerTopic onwards write to it).
	Topic int `json:"topic"`
	// Producers maps a producer id to the sequence numbers received.
	Producers map[string]SeqRanges `json:"producers"`
}

// SeqRanges is a set of sequence numbers as sorted, disjoint, inclusive
// [first, last] ranges.
type SeqRanges [][2]uint64

// Len is the number of members.
func (s SeqRanges) Len() int64 {
	var n int64
	for _, r := range s {
		n += int64(r[1] - r[0] + 1)
	}
	return n
}

// Union returns the members of a or b, normalised.
func Union(a, b SeqRanges) SeqRanges {
	all := append(append(SeqRanges(nil), a...), b...)
	slices.SortFunc(all, func(x, y [2]uint64) int {
		switch {
		case x[0] < y[0]:
			return -1
		case x[0] > y[0]:
			return 1
		}
		return 0
	})
	var out SeqRanges
	for _, r := range all {
		if k := len(out); k > 0 && r[0] <= out[k-1][1]+1 {
			out[k-1][1] = max(out[k-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// Missing counts members of want that are not in s; both normalised.
func (s SeqRanges) Missing(want SeqRanges) int64 {
	var n int64
	i := 0
	for _, w := range want {
		lo := w[0]
		for lo <= w[1] {
			for i < len(s) && s[i][1] < lo {
				i++
			}
			if i == len(s) || s[i][0] > w[1] {
				n += int64(w[1] - lo + 1)
				break
			}
			if s[i][0] > lo {
				n += int64(s[i][0] - lo)
			}
			if s[i][1] >= w[1] {
				break
			}
			lo = s[i][1] + 1
		}
	}
	return n
}
