package runner

import (
	"context"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/results"
)

func (r *run) meta(ctx context.Context) results.Meta {
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := r.sys.Info(ictx)
	if err != nil {
		info.Server = "unknown (" + err.Error() + ")"
	}
	host, _ := os.Hostname()
	return results.Meta{
		Tool:         r.r.tool,
		Revision:     r.r.revision,
		Started:      time.Now(),
		Warmup:       r.w.WarmupDuration.Seconds(),
		Duration:     r.w.TestDuration.Seconds(),
		System:       info,
		Capabilities: r.caps,
		Host: results.Host{
			Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH,
			CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
			CPUModel: cpuModel(), MemoryMB: memoryMB(),
		},
		Warnings: append([]string(nil), r.w.Warnings...),
	}
}

func (r *run) base(meta results.Meta) *results.Result {
	w := r.w
	return &results.Result{
		SchemaVersion:     results.SchemaVersion,
		Status:            results.StatusOK,
		Workload:          w.Name,
		Scenario:          scenarioOf(w.Name),
		Sweep:             w.Sweep,
		Report:            w.Report,
		Driver:            r.sys.Name(),
		MessageSize:       w.MessageSize,
		Topics:            w.Topics,
		Partitions:        w.PartitionsPerTopic,
		ProducersPerTopic: w.ProducersPerTopic,
		ConsumersPerTopic: w.SubscriptionsPerTopic * w.ConsumerPerSubscription,
		OfferedRate:       r.plan.Rate, // the shard's share in a sharded run
		Meta:              meta,
		Spec:              w,
	}
}

// scenarioOf strips the sweep suffix from an expanded run's name:
// "hot-keys[keyDistributor=UNIFORM]" belongs to scenario "hot-keys".
func scenarioOf(name string) string {
	if i := strings.IndexByte(name, '['); i > 0 {
		return name[:i]
	}
	return name
}

func (r *run) notApplicable(meta results.Meta, reason string) *results.Result {
	res := r.base(meta)
	res.Status, res.Error = results.StatusNotApplicable, "not applicable: "+reason
	res.Meta.Finished = time.Now()
	r.log.Info("not applicable", "reason", reason)
	return res
}

// result assembles the Result from the run's state. It runs after every
// goroutine of the run has stopped.
func (r *run) result(meta results.Meta) *results.Result {
	res := r.base(meta)
	res.Meta.Finished = time.Now()
	ms, me := r.measureStart.Load(), r.measureEnd.Load()
	if ms > 0 && me > ms {
		res.Meta.MeasuredSeconds = float64(me-ms) / 1e9
	}
	r.fillSamples(res)
	r.fillAggregates(res)
	r.fillCounts(res)
	r.fillPartitions(res)
	r.fillEvents(res)
	r.shardResult(res)
	res.BacklogPhase = r.backlog
	res.Generator = r.gen
	if r.firstErr != nil {
		res.Meta.Warnings = append(res.Meta.Warnings, "first send error: "+r.firstErr.Error())
	}
	res.Meta.Warnings = append(res.Meta.Warnings, r.warnings...)
	return res
}

func (r *run) fillSamples(res *results.Result) {
	ms := r.measureStart.Load()
	for _, s := range r.samples {
		if ms > 0 {
			s.Elapsed = float64(r.since(s.Time)-ms) / 1e9
		}
		res.AddSample(s)
	}
}

// fillAggregates merges every recorder's cumulative histogram per kind and
// stores the summaries, OMB's aggregated fields and the encoded histograms.
func (r *run) fillAggregates(res *results.Result) {
	var h [kinds]*hdrhistogram.Histogram
	for i := range h {
		h[i] = metrics.NewHistogram()
	}
	var outOfRange int64
	for _, pr := range r.producers {
		for k := kindPublish; k <= kindPublishDelay; k++ {
			pr.latency.MergeTotal(k, h[k])
		}
		outOfRange += pr.latency.OutOfRange()
	}
	redelivery := metrics.NewHistogram()
	for _, c := range r.consumers {
		for k := kindEndToEnd; k < kinds; k++ {
			c.endToEnd.MergeTotal(k-kindEndToEnd, h[k])
		}
		c.redeliveryDelay.MergeTotal(redelivery)
		outOfRange += c.endToEnd.OutOfRange() + c.redeliveryDelay.OutOfRange()
	}
	hs := results.LatencyHistograms{
		Publish: h[kindPublish], PublishFromSend: h[kindPublishFromSend],
		PublishDelay: h[kindPublishDelay], EndToEnd: h[kindEndToEnd],
		EndToEndFromSend: h[kindEndToEndFromSend],
	}
	if r.w.Queue != nil {
		hs.RedeliveryDelay = redelivery
	}
	if err := res.SetLatencies(hs, outOfRange); err != nil {
		r.log.Error("encode histograms", "err", err)
	}
}

func (r *run) fillCounts(res *results.Result) {
	c := &res.Counts
	for _, pr := range r.producers {
		c.Sent += pr.sent.Load()
		c.Acked += pr.ackedN.Load()
		c.Failed += pr.failed.Load()
		c.Late += pr.late.Load()
	}
	for _, s := range r.subs {
		c.Received += s.received.Load()
		c.Duplicates += s.duplicates.Load()
		c.OutOfOrder += s.outOfOrder.Load()
		c.Unexpected += s.unexpected.Load()
		c.Lost += s.lost(r.producers)
	}
	c.Drained = c.Lost == 0 && r.clientBacklog() <= 0
	c.OrderPromised = r.caps.OrderedPartitions && r.w.Queue == nil
	if r.w.Queue != nil {
		for _, s := range r.subs {
			c.Released += s.released.Load()
			c.Redelivered += s.redelivered.Load()
		}
		for _, pr := range r.producers {
			c.PoisonAcked += pr.poisonAcked.Load()
		}
		c.DeadLettered = r.deadLettered
	}
}

func (r *run) fillPartitions(res *results.Result) {
	secs := res.Meta.MeasuredSeconds
	for t, ts := range r.topics {
		for p := range ts.acked {
			part := results.Partition{
				Topic: ts.name, Partition: int32(p),
				Sent:         ts.acked[p].Load(),
				MeasuredSent: ts.acked[p].Load() - ts.measured[p],
				BrokerLag:    -1,
			}
			if secs > 0 {
				part.Rate = float64(part.MeasuredSent) / secs
			}
			if lag, ok := r.brokerLag[lagKey{t, int32(p)}]; ok {
				part.BrokerLag = lag
			}
			for _, s := range r.subs {
				if s.topicIdx == t {
					s.mu.Lock()
					part.Received += s.recvPart[p]
					part.ClientLag += part.Sent - s.recvPart[p]
					s.mu.Unlock()
				}
			}
			res.PartitionsDetail = append(res.PartitionsDetail, part)
		}
	}
}

func (r *run) fillEvents(res *results.Result) {
	ms := r.measureStart.Load()
	for _, e := range r.events {
		if ms > 0 {
			e.Elapsed = float64(r.since(e.Time)-ms) / 1e9
		}
		res.Events = append(res.Events, e)
	}
	if r.caps.Rebalance {
		res.Counts.Rebalances = countRebalances(res.Events)
	}
	for _, s := range r.subs {
		s.mu.Lock()
		for _, p := range s.pauses {
			res.Pauses = append(res.Pauses, results.Pause{
				Subscription: s.name, Partition: p.partition,
				Start: r.at(p.start), Elapsed: float64(p.start-ms) / 1e9,
				Duration: float64(p.end-p.start) / 1e9,
			})
		}
		s.mu.Unlock()
	}
	sort.Slice(res.Pauses, func(i, j int) bool { return res.Pauses[i].Start.Before(res.Pauses[j].Start) })
}

// rebalanceGap separates two rebalances: assignment callbacks closer than
// this belong to the same rebalance (each member reports its own, and a
// cooperative rebalance takes two rounds).
const rebalanceGap = 500 * time.Millisecond

// countRebalances counts the rebalances of the measured phase: after the
// "measure-start" event and before "producers-stopped", so neither the
// consumers' first assignments nor the revocations of the run's own
// shutdown count. Where assignments carry a group generation (Kafka), a
// rebalance is a new generation: a restarted static member that gets its
// partitions back in the same generation is not one, although it reports
// a revocation and an assignment. Otherwise a rebalance is a burst of
// assignment changes. Events are in the order they happened, which holds
// even when a clock shows two of them at one instant.
func countRebalances(events []results.Event) int64 {
	if n, ok := countGenerations(events); ok {
		return n
	}
	return countAssignmentBursts(events)
}

// countGenerations counts how often the highest group generation seen
// rises during the measured phase; ok is false when no assignment
// carries a generation.
func countGenerations(events []results.Event) (n int64, ok bool) {
	var highest int32
	measuring := false
	for _, e := range events {
		switch e.Kind {
		case "measure-start":
			measuring = true
		case "producers-stopped":
			return n, ok
		case "assigned":
			if e.Generation <= 0 {
				continue
			}
			ok = true
			if e.Generation > highest {
				if measuring && highest > 0 {
					n++
				}
				highest = e.Generation
			}
		}
	}
	return n, ok
}

// countAssignmentBursts counts bursts of assignment changes in the
// measured phase, for systems without group generations.
func countAssignmentBursts(events []results.Event) int64 {
	var n int64
	var last time.Time
	measuring := false
	for _, e := range events {
		switch e.Kind {
		case "measure-start":
			measuring = true
		case "producers-stopped":
			return n
		}
		if !measuring || e.Kind != "assigned" && e.Kind != "revoked" {
			continue
		}
		if last.IsZero() || e.Time.Sub(last) > rebalanceGap {
			n++
		}
		last = e.Time
	}
	return n
}
