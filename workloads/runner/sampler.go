package runner

import (
	"context"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/metrics"
	"github.com/brokerbench/brokerbench/results"
)

// sampler takes one results.Sample per interval.
type sampler struct {
	done chan struct{}
	end  chan chan struct{} // endMeasure's requests
	wg   sync.WaitGroup
}

// Latency kinds, indexing per-kind histogram arrays.
const (
	kindPublish = iota
	kindPublishFromSend
	kindPublishDelay
	kindEndToEnd
	kindEndToEndFromSend
	kinds
)

// phaseDrain is the phase after the producers stopped; its samples are
// not measured.
const phaseDrain = results.PhaseDrain

type counters struct {
	acked, failed, received int64
}

func (r *run) startSampler() *sampler {
	s := &sampler{done: make(chan struct{}), end: make(chan chan struct{})}
	s.wg.Go(func() {
		tick := time.NewTicker(r.r.interval)
		defer tick.Stop()
		prev, prevAt := r.counters(), r.now()
		for {
			var ended chan struct{}
			select {
			case <-tick.C:
			case ended = <-s.end:
			case <-s.done:
				return
			}
			cur, now := r.counters(), r.now()
			// The sample up to the end of the measurement belongs to it,
			// unless it is too short for its rate to mean anything (a
			// tick came just before the end): a 1 s run whose first tick
			// would come after the end otherwise has no measured sample.
			if ended != nil && now-prevAt < int64(r.r.interval)/2 {
				r.setPhase(phaseDrain)
			}
			r.sample(prev, cur, prevAt, now)
			if ended != nil {
				r.setPhase(phaseDrain)
				close(ended)
			}
			prev, prevAt = cur, now
		}
	})
	return s
}

// endMeasure cuts a sample at the end of the measurement, then puts the
// run in the drain phase, whose samples are not measured: acks of the
// last sends must not count as measured throughput at a rate the stopped
// producers no longer offer.
func (s *sampler) endMeasure() {
	ended := make(chan struct{})
	select {
	case s.end <- ended:
		<-ended
	case <-s.done:
	}
}

func (s *sampler) stop() {
	close(s.done)
	s.wg.Wait()
}

func (r *run) counters() counters {
	var c counters
	for _, pr := range r.producers {
		c.acked += pr.ackedN.Load()
		c.failed += pr.failed.Load()
	}
	for _, s := range r.subs {
		c.received += s.received.Load()
	}
	return c
}

func (r *run) setPhase(p string) {
	r.mu.Lock()
	r.phase = p
	r.mu.Unlock()
}

// sample records one interval: rates from counter deltas, latencies from
// every recorder's interval histogram, backlog and broker-side lag.
func (r *run) sample(prev, cur counters, from, to int64) {
	secs := float64(to-from) / 1e9
	var h [kinds]*hdrhistogram.Histogram
	for i := range h {
		h[i] = metrics.NewHistogram()
	}
	for _, pr := range r.producers {
		for k := kindPublish; k <= kindPublishDelay; k++ {
			pr.latency.MergeInterval(k, h[k])
		}
	}
	for _, c := range r.consumers {
		for k := kindEndToEnd; k < kinds; k++ {
			c.endToEnd.MergeInterval(k-kindEndToEnd, h[k])
		}
	}
	var inFlight int64
	for _, pr := range r.producers {
		inFlight += pr.inFlight()
	}
	size := float64(r.w.MessageSize)
	ms := r.measureStart.Load()
	r.mu.Lock()
	phase := r.phase
	r.mu.Unlock()
	s := results.Sample{
		Time:             r.at(to),
		Elapsed:          r.elapsed(to),
		Warmup:           ms == 0 || to < ms,
		Phase:            phase,
		PublishRate:      float64(cur.acked-prev.acked) / secs,
		ConsumeRate:      float64(cur.received-prev.received) / secs,
		ErrorRate:        float64(cur.failed-prev.failed) / secs,
		Backlog:          r.clientBacklog(),
		InFlight:         inFlight,
		BrokerLag:        r.sampleLag(),
		Publish:          metrics.Summarize(h[kindPublish]),
		PublishFromSend:  metrics.Summarize(h[kindPublishFromSend]),
		PublishDelay:     metrics.Summarize(h[kindPublishDelay]),
		EndToEnd:         metrics.Summarize(h[kindEndToEnd]),
		EndToEndFromSend: metrics.Summarize(h[kindEndToEndFromSend]),
	}
	s.PublishMBps = s.PublishRate * size / 1e6
	s.ConsumeMBps = s.ConsumeRate * size / 1e6
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
	if r.r.progress != nil {
		r.r.progress(r.progressOf(s, phase))
	}
}

// sampleLag asks the broker for lag of every subscription; -1 when the
// system does not report lag or the query failed.
func (r *run) sampleLag() int64 {
	lagger, ok := r.sys.(adapters.Lagger)
	if !ok || !r.caps.BrokerLag {
		return -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.r.interval/2)
	defer cancel()
	var total int64
	lags := make(map[lagKey]int64)
	for _, s := range r.subs {
		m, err := lagger.Lag(ctx, r.topics[s.topicIdx].name, s.name)
		if err != nil && len(m) == 0 {
			return -1
		}
		for p, l := range m {
			total += l
			lags[lagKey{s.topicIdx, p}] += l
		}
	}
	r.mu.Lock()
	r.brokerLag = lags
	r.mu.Unlock()
	return total
}

func (r *run) progressOf(s results.Sample, phase string) Progress {
	if phase == "" {
		phase = "measure"
		if s.Warmup {
			phase = "warmup"
		}
	}
	total := r.w.WarmupDuration + r.w.TestDuration
	if r.w.BacklogBytes() > 0 {
		total = 0
	}
	return Progress{
		Workload: r.w.Name, System: r.sys.Name(), Phase: phase,
		Elapsed: time.Duration(r.now()), Total: total,
		PublishRate: s.PublishRate, ConsumeRate: s.ConsumeRate,
		PublishP99: s.Publish.P99, EndToEndP99: s.EndToEnd.P99,
		Backlog: s.Backlog, Errors: r.counters().failed,
	}
}
