package distributed

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// Merge combines the results of every shard of one run into one ordinary
// result, as if one machine had run the whole workload:
//
//   - histograms are added exactly, so the merged percentiles are those of
//     the union of every shard's recorded values;
//   - counters are summed, except losses and duplicates, which are decided
//     from the shards' sequence sets together: a message sent by shard A may
//     be received by shard B's consumer, so a per-shard "lost" is wrong.
//     Lost is, per subscription, the acknowledged sequence numbers missing
//     from the union of what every shard received; Duplicates adds, to the
//     shards' own duplicates, the messages received by more than one shard;
//   - samples are aligned on the common start (by elapsed interval) and
//     their rates and backlogs summed; a sample's latency summaries are the
//     largest of the shards' (an upper bound: per-interval histograms are not
//     kept);
//   - per-partition figures are summed (BrokerLag: the largest reading);
//   - events and pauses are concatenated in time order, and rebalances
//     recounted over them;
//   - a saturation search's record (which the coordinator gave every
//     shard, with the probe whose figures the result holds) is kept once;
//   - the repetition (run --repeat N) is the shards' own, without their
//     summary: the repetitions' summary is of the merged runs
//     (suite.Collect gives it).
//
// The merged status is judged on the whole with l (results.Judge), as a
// run's: a shard's own status says only whether it failed.
//
// The shards must be all of one run: the same run id, count, repetition
// and (workload, system), each index once.
func Merge(shards []*results.Result, l results.Limits) (*results.Result, error) {
	if err := checkShards(shards); err != nil {
		return nil, err
	}
	slices.SortFunc(shards, func(a, b *results.Result) int { return cmp.Compare(a.Shard.Index, b.Shard.Index) })
	out, err := clone(shards[0])
	if err != nil {
		return nil, err
	}
	out.Shard, out.Verdict, out.Steadiness = nil, nil, nil
	if out.Repeat != nil {
		out.Repeat = &results.Repeat{Index: out.Repeat.Index, Of: out.Repeat.Of}
	}
	if out.Status == results.StatusNotApplicable {
		return out, nil // every shard's: the same capabilities
	}
	var failed []string
	interrupted := false
	out.OfferedRate = 0
	for _, s := range shards {
		if s.Status == results.StatusFailed {
			failed = append(failed, fmt.Sprintf("shard %d/%d: %s", s.Shard.Index, s.Shard.Count, s.Error))
		}
		interrupted = interrupted || s.Status == results.StatusInterrupted
		out.OfferedRate += s.OfferedRate
		if s.Generator != nil && (out.Generator == nil || s.Generator.CPUShare > out.Generator.CPUShare) {
			out.Generator = s.Generator // the busiest shard's generator decides
		}
	}
	if err := mergeLatencies(out, shards); err != nil {
		return nil, err
	}
	mergeCounts(out, shards)
	mergeSamples(out, shards)
	mergePartitions(out, shards)
	mergeEvents(out, shards)
	mergeBacklog(out, shards)
	mergeMeta(out, shards)
	if err := mergeCapacity(out, shards); err != nil {
		return nil, err
	}
	var runErr error
	out.Error = ""
	if len(failed) > 0 {
		runErr = errors.New(strings.Join(failed, "; "))
		out.Error = runErr.Error()
	}
	out.Status, out.StatusReasons = results.Judge(out, runErr, interrupted, l)
	return out, nil
}

func checkShards(shards []*results.Result) error {
	if len(shards) == 0 {
		return errors.New("merge: no shard results")
	}
	first := shards[0]
	if first.Shard == nil {
		return fmt.Errorf("merge: the result of %s on %s is not a shard's (no \"shard\" field)", first.Workload, first.Driver)
	}
	seen := map[int]bool{}
	for _, s := range shards {
		switch {
		case s.Shard == nil:
			return fmt.Errorf("merge: the result of %s on %s is not a shard's (no \"shard\" field)", s.Workload, s.Driver)
		case s.Shard.RunID != first.Shard.RunID || s.Workload != first.Workload || s.Driver != first.Driver:
			return fmt.Errorf("merge: shard %d is of run %s (%s on %s), shard %d of run %s (%s on %s): results of different runs",
				first.Shard.Index, first.Shard.RunID, first.Workload, first.Driver, s.Shard.Index, s.Shard.RunID, s.Workload, s.Driver)
		case !sameRepetition(s, first):
			return fmt.Errorf("merge: run %s: shard %d/%d is repetition %s, shard %d/%d repetition %s: results of different repetitions",
				s.Shard.RunID, first.Shard.Index, first.Shard.Count, repetition(first), s.Shard.Index, s.Shard.Count, repetition(s))
		case s.Shard.Count != first.Shard.Count:
			return fmt.Errorf("merge: run %s: shards disagree on the shard count (%d, %d)", s.Shard.RunID, first.Shard.Count, s.Shard.Count)
		case seen[s.Shard.Index]:
			return fmt.Errorf("merge: run %s: shard %d appears twice", s.Shard.RunID, s.Shard.Index)
		}
		seen[s.Shard.Index] = true
	}
	if len(seen) != first.Shard.Count {
		var missing []string
		for i := range first.Shard.Count {
			if !seen[i] {
				missing = append(missing, fmt.Sprint(i))
			}
		}
		return fmt.Errorf("merge: run %s (%s on %s): missing shard(s) %s of %d", first.Shard.RunID, first.Workload, first.Driver, strings.Join(missing, ", "), first.Shard.Count)
	}
	return nil
}

func sameRepetition(a, b *results.Result) bool {
	ai, an := a.Repetition()
	bi, bn := b.Repetition()
	return ai == bi && an == bn
}

// repetition names r's repetition, "k of n".
func repetition(r *results.Result) string {
	k, n := r.Repetition()
	return fmt.Sprintf("%d of %d", k, n)
}

func clone(r *results.Result) (*results.Result, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("merge: copy result: %w", err)
	}
	var out results.Result
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("merge: copy result: %w", err)
	}
	return &out, nil
}

// mergeLatencies adds the shards' histograms kind by kind.
func mergeLatencies(out *results.Result, shards []*results.Result) error {
	var h results.LatencyHistograms
	dst := []**hdrhistogram.Histogram{&h.Publish, &h.PublishFromSend, &h.PublishDelay, &h.EndToEnd, &h.EndToEndFromSend, &h.RedeliveryDelay}
	var outOfRange int64
	for _, s := range shards {
		src := []string{s.Histograms.Publish, s.Histograms.PublishFromSend, s.Histograms.PublishDelay, s.Histograms.EndToEnd, s.Histograms.EndToEndFromSend, s.Histograms.RedeliveryDelay}
		for k, enc := range src {
			if enc == "" {
				continue
			}
			d, err := metrics.Decode(enc)
			if err != nil {
				return fmt.Errorf("merge: shard %d: decode histogram: %w", s.Shard.Index, err)
			}
			if *dst[k] == nil {
				*dst[k] = metrics.NewHistogram()
			}
			if dropped := (*dst[k]).Merge(d); dropped > 0 {
				return fmt.Errorf("merge: shard %d: %d values outside the histogram's range", s.Shard.Index, dropped)
			}
		}
		outOfRange += s.Latency.OutOfRange
	}
	for _, p := range dst[:5] {
		if *p == nil {
			*p = metrics.NewHistogram()
		}
	}
	return out.SetLatencies(h, outOfRange)
}

func mergeCounts(out *results.Result, shards []*results.Result) {
	c := results.Counts{OrderPromised: out.Counts.OrderPromised, DeadLettered: shards[0].Counts.DeadLettered}
	type subProd struct{ sub, producer string }
	union := map[subProd]results.SeqRanges{}
	var each int64 // sum of the shards' distinct receipts
	subTopic := map[string]int{}
	acked := map[string]results.SeqRanges{}
	poison := map[string]int64{}
	for _, s := range shards {
		k := s.Counts
		c.Sent += k.Sent
		c.Acked += k.Acked
		c.Failed += k.Failed
		c.Late += k.Late
		c.Received += k.Received
		c.Duplicates += k.Duplicates
		c.OutOfOrder += k.OutOfOrder
		c.Unexpected += k.Unexpected
		c.Released += k.Released
		c.Redelivered += k.Redelivered
		c.PoisonAcked += k.PoisonAcked
		// Every shard reads the same dead-letter destinations: the
		// latest, largest reading is the system's count.
		c.DeadLettered = max(c.DeadLettered, k.DeadLettered)
		for p, rs := range s.Shard.Acked {
			acked[p] = results.Union(acked[p], rs)
		}
		for p, n := range s.Shard.Poison {
			poison[p] += n
		}
		for sub, seqs := range s.Shard.Received {
			subTopic[sub] = seqs.Topic
			for p, rs := range seqs.Producers {
				key := subProd{sub, p}
				union[key] = results.Union(union[key], rs)
				each += rs.Len()
			}
		}
	}
	var distinct int64
	for _, rs := range union {
		distinct += rs.Len()
	}
	// A message two shards both received is a duplicate the shards could
	// not see: each counted it once as new.
	c.Duplicates += each - distinct
	for sub, t := range subTopic {
		for p, rs := range acked {
			var id int
			if _, err := fmt.Sscan(p, &id); err != nil || out.ProducersPerTopic == 0 || id/out.ProducersPerTopic != t {
				continue
			}
			// Poison messages are never accepted, by design (queue
			// workloads): not lost, as on one machine.
			c.Lost += union[subProd{sub, p}].Missing(rs) - poison[p]
		}
	}
	c.Drained = c.Lost == 0
	out.Counts = c
}

// mergeSamples aligns the shards' samples on the common start: every
// shard started its producers and its measurement at the same instants
// with the same interval, so the k-th sample after each shard's first
// measured one covers the same time; those are one merged sample.
func mergeSamples(out *results.Result, shards []*results.Result) {
	type slot struct {
		s results.Sample
		n int
	}
	byStep := map[int64]*slot{}
	for _, sh := range shards {
		first := slices.IndexFunc(sh.Samples, func(s results.Sample) bool { return !s.Warmup })
		if first < 0 {
			first = len(sh.Samples)
		}
		for i, s := range sh.Samples {
			step := int64(i - first)
			m := byStep[step]
			if m == nil {
				m = &slot{s: s}
				m.s.PublishRate, m.s.ConsumeRate, m.s.PublishMBps, m.s.ConsumeMBps = 0, 0, 0, 0
				m.s.ErrorRate, m.s.Backlog, m.s.InFlight = 0, 0, 0
				byStep[step] = m
			}
			m.n++
			m.s.PublishRate += s.PublishRate
			m.s.ConsumeRate += s.ConsumeRate
			m.s.PublishMBps += s.PublishMBps
			m.s.ConsumeMBps += s.ConsumeMBps
			m.s.ErrorRate += s.ErrorRate
			m.s.Backlog += s.Backlog
			m.s.InFlight += s.InFlight
			m.s.BrokerLag = max(m.s.BrokerLag, s.BrokerLag)
			if s.Time.After(m.s.Time) {
				m.s.Time, m.s.Elapsed = s.Time, s.Elapsed
			}
			m.s.Warmup = m.s.Warmup && s.Warmup
			if s.Phase == "drain" {
				m.s.Phase = "drain"
			}
			m.s.Publish = maxSummary(m.s.Publish, s.Publish)
			m.s.PublishFromSend = maxSummary(m.s.PublishFromSend, s.PublishFromSend)
			m.s.PublishDelay = maxSummary(m.s.PublishDelay, s.PublishDelay)
			m.s.EndToEnd = maxSummary(m.s.EndToEnd, s.EndToEnd)
			m.s.EndToEndFromSend = maxSummary(m.s.EndToEndFromSend, s.EndToEndFromSend)
		}
	}
	steps := make([]int64, 0, len(byStep))
	for k := range byStep {
		steps = append(steps, k)
	}
	slices.Sort(steps)
	clearSeries(out)
	for _, k := range steps {
		out.AddSample(byStep[k].s)
	}
}

// maxSummary is the field-wise maximum of two summaries, counts summed.
func maxSummary(a, b metrics.Summary) metrics.Summary {
	return metrics.Summary{
		Count: a.Count + b.Count, Min: max(a.Min, b.Min), Mean: max(a.Mean, b.Mean), P50: max(a.P50, b.P50), P75: max(a.P75, b.P75),
		P90: max(a.P90, b.P90), P95: max(a.P95, b.P95), P99: max(a.P99, b.P99), P999: max(a.P999, b.P999), P9999: max(a.P9999, b.P9999),
		Max: max(a.Max, b.Max),
	}
}

func clearSeries(r *results.Result) {
	r.Samples = nil
	r.PublishRate, r.PublishErrorRate, r.ConsumeRate, r.Backlog = nil, nil, nil, nil
	r.PublishLatencyAvg, r.PublishLatency50pct, r.PublishLatency75pct, r.PublishLatency95pct = nil, nil, nil, nil
	r.PublishLatency99pct, r.PublishLatency999pct, r.PublishLatency9999pct, r.PublishLatencyMax = nil, nil, nil, nil
	r.PublishDelayLatencyAvg, r.PublishDelayLatency50pct, r.PublishDelayLatency99pct, r.PublishDelayLatencyMax = nil, nil, nil, nil
	r.EndToEndLatencyAvg, r.EndToEndLatency50pct, r.EndToEndLatency75pct, r.EndToEndLatency95pct = nil, nil, nil, nil
	r.EndToEndLatency99pct, r.EndToEndLatency999pct, r.EndToEndLatency9999pct, r.EndToEndLatencyMax = nil, nil, nil, nil
}

func mergePartitions(out *results.Result, shards []*results.Result) {
	type key struct {
		topic string
		p     int32
	}
	idx := map[key]int{}
	var parts []results.Partition
	for _, sh := range shards {
		for _, p := range sh.PartitionsDetail {
			k := key{p.Topic, p.Partition}
			i, ok := idx[k]
			if !ok {
				idx[k] = len(parts)
				parts = append(parts, p)
				continue
			}
			m := &parts[i]
			m.Sent += p.Sent
			m.MeasuredSent += p.MeasuredSent
			m.Rate += p.Rate
			m.Received += p.Received
			m.ClientLag += p.ClientLag
			m.BrokerLag = max(m.BrokerLag, p.BrokerLag)
		}
	}
	out.PartitionsDetail = parts
}

func mergeEvents(out *results.Result, shards []*results.Result) {
	out.Events, out.Pauses = nil, nil
	for _, sh := range shards {
		out.Events = append(out.Events, sh.Events...)
		out.Pauses = append(out.Pauses, sh.Pauses...)
	}
	slices.SortStableFunc(out.Events, func(a, b results.Event) int { return a.Time.Compare(b.Time) })
	slices.SortStableFunc(out.Pauses, func(a, b results.Pause) int { return a.Start.Compare(b.Start) })
	out.Counts.Rebalances = runner.CountRebalances(out.Events)
}

// mergeBacklog combines the shards' backlog phases. The shards were
// released from the build and the drain at the coordinator's instants, so
// Built and Drained agree (the earliest and the latest are kept should
// they not), and the messages built, left and consumed are summed: the
// drain time and rate are those of the whole run.
func mergeBacklog(out *results.Result, shards []*results.Result) {
	var m *results.BacklogPhase
	for _, sh := range shards {
		b := sh.BacklogPhase
		if b == nil {
			continue
		}
		if m == nil {
			m = &results.BacklogPhase{Built: b.Built, Drained: b.Drained}
		}
		if b.Built.Before(m.Built) {
			m.Built = b.Built
		}
		if b.Drained.After(m.Drained) {
			m.Drained = b.Drained
		}
		m.BuiltMessages += b.BuiltMessages
		m.LeftMessages += b.LeftMessages
		m.Consumed += b.Consumed
	}
	out.BacklogPhase = m
}

func mergeMeta(out *results.Result, shards []*results.Result) {
	m := &out.Meta
	m.Warnings = nil
	for _, sh := range shards {
		if sh.Meta.Started.Before(m.Started) {
			m.Started = sh.Meta.Started
		}
		if sh.Meta.Finished.After(m.Finished) {
			m.Finished = sh.Meta.Finished
		}
		m.MeasuredSeconds = max(m.MeasuredSeconds, sh.Meta.MeasuredSeconds)
		for _, w := range sh.Meta.Warnings {
			m.Warnings = append(m.Warnings, fmt.Sprintf("shard %d/%d: %s", sh.Shard.Index, sh.Shard.Count, w))
		}
	}
	hosts := make([]string, len(shards))
	for i, sh := range shards {
		hosts[i] = sh.Meta.Host.Hostname
	}
	// meta.host stays shard 0's; the others are named here.
	m.Warnings = append(m.Warnings, fmt.Sprintf("merged from %d shards of run %s on hosts %s (docs/distributed.md); end-to-end latency covers messages consumed by the shard that sent them",
		len(shards), shards[0].Shard.RunID, strings.Join(hosts, ", ")))
}

// mergeCapacity keeps the search record of a saturation search's shards:
// the coordinator ran the search on the merged probes and gave every shard
// the same record, which says, as one machine's result does, when no rate
// was found.
func mergeCapacity(out *results.Result, shards []*results.Result) error {
	want, err := json.Marshal(shards[0].Capacity)
	if err != nil {
		return fmt.Errorf("merge: encode search record: %w", err)
	}
	for _, s := range shards[1:] {
		got, err := json.Marshal(s.Capacity)
		if err != nil {
			return fmt.Errorf("merge: encode search record: %w", err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("merge: shard %d/%d and shard %d/%d carry different search records: results of different searches",
				shards[0].Shard.Index, shards[0].Shard.Count, s.Shard.Index, s.Shard.Count)
		}
	}
	if out.Capacity != nil {
		if w := out.Capacity.Warning(); w != "" {
			out.Meta.Warnings = append(out.Meta.Warnings, w)
		}
	}
	return nil
}
