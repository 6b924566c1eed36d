package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/checkers/history"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
)

// run is the state of one workload run on one system.
type run struct {
	r    *Runner
	w    workloads.Workload
	sys  adapters.System
	caps adapters.Capabilities
	log  *slog.Logger
	// durability is what the system gives the run's topics, read back
	// after they were created; nil before.
	durability *adapters.DurabilityReport
	client     []adapters.ClientSetting // adapters.ClientReporter's, see recordClientSettings
	epoch      time.Time
	runID      string
	topics     []*topicState
	subs       []*subscription

	producers []*producer
	// byID finds a producer by its id in message headers; nil entries are
	// other shards' producers (a sharded run).
	byID      []*producer
	plan      workloads.ShardPlan
	consumers []*consumer
	hist      *recorder // nil unless the run records a history

	// measureStart is ns since epoch when the measured phase began; 0
	// before. Read by consumer handlers to scope pause detection.
	measureStart atomic.Int64
	measureEnd   atomic.Int64
	// paused, while non-nil, holds producers before their next send
	// (pauseProducersDuringDrain); closing the channel resumes them.
	paused atomic.Pointer[chan struct{}]

	mu        sync.Mutex
	events    []results.Event
	sendErrs  int64
	firstErr  error
	samples   []results.Sample
	brokerLag map[lagKey]int64
	crashGuard
	superDone chan struct{}  // closed at teardown: stop supervising consumers
	superWG   sync.WaitGroup // supervisor goroutines
	// deadLettered is the systems' dead-letter count at the end of a
	// queue run; -1 when it has no dead-letter destination.
	deadLettered int64
	warnings     []string              // run-level problems that did not fail it (e.g. the final read)
	phase        string                // backlog or drain phase label for samples; "" otherwise
	backlog      *results.BacklogPhase // a backlog workload's build and drain, once drained
	// watch measures the generator's health while load runs; gen holds
	// its figures once load has stopped (nil if load never started).
	watch *watcher
	gen   *results.Generator
}

type topicState struct {
	name     string
	keys     []string       // per partition: "topic/p", the history's key
	acked    []atomic.Int64 // per partition, whole run
	measured []int64        // per partition acked at measure start
}

type lagKey struct {
	topic     int
	partition int32
}

func (r *run) now() int64               { return int64(time.Since(r.epoch)) }
func (r *run) since(t time.Time) int64  { return int64(t.Sub(r.epoch)) }
func (r *run) at(ns int64) time.Time    { return r.epoch.Add(time.Duration(ns)) }
func (r *run) elapsed(ns int64) float64 { return float64(ns-r.measureStart.Load()) / 1e9 }

// Run runs one concrete workload (see workloads.Workload.Expand) against
// sys and returns its result. The result is never nil. Its Status comes
// from results.Judge: a run that fails part-way returns what it measured
// with Status failed and the error, a run whose context ends first
// (Ctrl-C) returns its partial figures with Status interrupted and an
// error wrapping the context's, and a workload the system cannot run
// returns Status not-applicable. The error is non-nil exactly when the run
// could not complete or was interrupted; a run that completed may still be
// failed or degraded by its figures (see Result.StatusReasons).
func (rn *Runner) Run(ctx context.Context, w workloads.Workload, sys adapters.System) (*results.Result, error) {
	if rn.duration > 0 {
		w.TestDuration = rn.duration
	}
	if rn.warmupSet {
		w.WarmupDuration = rn.warmup
	}
	r := &run{
		r: rn, w: w, sys: sys, caps: sys.Capabilities(),
		epoch: time.Now(), runID: randomID(), deadLettered: -1,
		superDone: make(chan struct{}),
		brokerLag: make(map[lagKey]int64),
	}
	r.log = rn.logger.With("workload", w.Name, "system", sys.Name())
	r.plan = workloads.Split(w, workloads.Whole)
	if sh := rn.shard; sh != nil {
		r.runID = sh.RunID
		r.plan = workloads.Split(w, sh.Segment)
		r.log = r.log.With("shard", sh.Segment.String())
	}
	meta := r.meta(ctx)
	if reason := Applicable(w, r.caps); reason != "" {
		return r.notApplicable(meta, reason), nil
	}
	err := r.execute(ctx)
	interrupted := ctx.Err() != nil
	meta.Durability = r.durability
	meta.Client = r.client
	var na notApplicableError
	if errors.As(err, &na) && !interrupted {
		return r.notApplicable(meta, na.reason), nil
	}
	res := r.result(meta)
	res.Status, res.StatusReasons = results.Judge(res, err, interrupted, rn.limits)
	if rn.shard != nil {
		res.Status, res.StatusReasons = shardStatus(err, interrupted)
	}
	switch {
	case interrupted:
		return res, fmt.Errorf("run %s on %s: interrupted: %w", w.Name, sys.Name(), context.Cause(ctx))
	case err != nil:
		res.Error = err.Error()
		return res, fmt.Errorf("run %s on %s: %w", w.Name, sys.Name(), err)
	}
	return res, nil
}

// Teardown budgets: a run that ended normally may take its time to close
// clients and delete topics; an interrupted one must let its user go
// within seconds, even from a frozen broker, and lists what it could not
// delete.
const (
	teardownTimeout         = 30 * time.Second
	interruptedCloseBudget  = 3 * time.Second
	interruptedDeleteBudget = 5 * time.Second
)

// execute runs the phases; teardown always runs.
func (r *run) execute(ctx context.Context) (err error) {
	defer func() {
		// Teardown gets its own deadlines: the run's context may already
		// be cancelled, and topics must not be left behind.
		closeBudget, deleteBudget := teardownTimeout, teardownTimeout
		if ctx.Err() != nil {
			closeBudget, deleteBudget = interruptedCloseBudget, interruptedDeleteBudget
		}
		err = errors.Join(err, r.teardown(context.WithoutCancel(ctx), closeBudget, deleteBudget), r.hist.close())
	}()
	if r.r.shard != nil {
		if err := workloads.CheckShardable(r.w, r.r.shard.Segment.Count); err != nil {
			return err
		}
	}
	if err := r.setup(ctx); err != nil {
		return err
	}
	backlog := r.w.BacklogBytes() > 0
	var start time.Time
	if backlog {
		// Consumers start once the backlog is built (buildBacklog); the
		// shards' producers start together.
		var err error
		if start, err = r.wait(ctx, PointProduce); err != nil {
			return err
		}
	} else {
		if err := r.startConsumers(ctx); err != nil {
			return err
		}
		var err error
		if r.r.shard != nil {
			start, err = r.waitReadySharded(ctx)
		} else {
			err = r.waitReady(ctx)
		}
		if err != nil {
			return err
		}
	}
	return r.load(ctx, backlog, start)
}

func (r *run) setup(ctx context.Context) error {
	w := r.w
	if err := r.openHistory(); err != nil {
		return err
	}
	base := topicBase(w.Name, r.runID)
	totalProducers := w.Topics * w.ProducersPerTopic
	for t := range w.Topics {
		ts := &topicState{
			name:     fmt.Sprintf("%s-%d", base, t),
			keys:     partitionKeys(fmt.Sprintf("%s-%d", base, t), w.PartitionsPerTopic),
			acked:    make([]atomic.Int64, w.PartitionsPerTopic),
			measured: make([]int64, w.PartitionsPerTopic),
		}
		r.topics = append(r.topics, ts)
		spec := adapters.TopicSpec{Name: ts.name, Partitions: w.PartitionsPerTopic}
		if q := w.Queue; q != nil {
			spec.Queue = true
			spec.MaxDeliveries = q.MaxDeliveries
			spec.DeadLetter = q.DeadLetter && r.caps.DeadLetter
		}
		for s := range w.SubscriptionsPerTopic {
			name := fmt.Sprintf("%s-sub-%d", ts.name, s)
			spec.Subscriptions = append(spec.Subscriptions, name)
			sub := newSubscription(r, t, name, w.PartitionsPerTopic, totalProducers)
			if s == 0 {
				sub.hist = r.hist
			}
			r.subs = append(r.subs, sub)
		}
		spec.Durability = adapters.Durability(w.Durability)
		if !r.plan.CreatesTopics {
			continue // shard 0 creates them
		}
		// Tracked before creation: a create that times out may still
		// have created the topic.
		r.r.resources.created(r.sys.Name(), ts.name)
		if err := r.sys.CreateTopic(ctx, spec); err != nil {
			return fmt.Errorf("create topic %s: %w", ts.name, err)
		}
	}
	if _, err := r.wait(ctx, PointCreated); err != nil {
		return err
	}
	if err := r.checkDurability(ctx); err != nil {
		return err
	}
	payload, pool, err := r.payloads()
	if err != nil {
		return err
	}
	perProducer := 0.0
	if w.ProducerRate > 0 {
		perProducer = w.ProducerRate / float64(totalProducers)
	}
	r.byID = make([]*producer, totalProducers)
	for t, ts := range r.topics {
		for _, id := range r.plan.Producers[t] {
			pr, err := r.newProducer(ctx, id, t, ts.name, perProducer)
			if err != nil {
				return err
			}
			pr.payloads = pool
			newSlots(pr, w.Delivery.MaxInFlight, w.MessageSize, payload)
			r.producers = append(r.producers, pr)
			r.byID[id] = pr
		}
	}
	for _, s := range r.subs {
		for c := r.plan.ConsumersLo; c < r.plan.ConsumersHi; c++ {
			id := fmt.Sprintf("%s-c%d", s.name, c)
			cons := &consumer{id: id, sub: s, endToEnd: newEndToEnd(), redeliveryDelay: newLatency()}
			if w.Churn != nil && w.Churn.Membership == "static" {
				cons.instanceID = id
			}
			r.consumers = append(r.consumers, cons)
		}
	}
	r.recordClientSettings(perProducer)
	return nil
}

// recordClientSettings asks the adapter how it drives the system for this
// run's producers and consumers (adapters.ClientReporter), for the result.
// Every producer and consumer of a run is configured alike, so the first
// of each stands for all.
func (r *run) recordClientSettings(perProducer float64) {
	cr, ok := r.sys.(adapters.ClientReporter)
	if !ok || len(r.topics) == 0 {
		return
	}
	var p adapters.ProducerConfig
	if len(r.producers) > 0 {
		p = r.producerConfig(r.producers[0].id, r.producers[0].topic, perProducer)
	}
	var c adapters.ConsumerConfig
	if len(r.consumers) > 0 {
		c = r.consumerConfig(r.consumers[0])
	}
	r.client = cr.ClientSettings(p, c)
}

// openHistory starts the run's history, if the runner records them. The
// log model needs offsets and partitions owned by one consumer of a
// subscription at a time (its poll-order checks assume both); systems
// whose consumers compete for every partition (queue mode, SQS) and
// systems without offsets are checked as queues.
func (r *run) openHistory() error {
	if r.r.openHistory == nil {
		return nil
	}
	out, err := r.r.openHistory(r.w.Name, r.sys.Name())
	if err != nil {
		return fmt.Errorf("open history: %w", err)
	}
	if out == nil {
		return nil // this run records none
	}
	// A sharded run's history is checked as a queue's: RabbitMQ, Redis and
	// NATS assign partitions among the consumers of one process only, so
	// consumers of different shards may read one partition at once, which
	// the log model's ownership checks would flag (docs/distributed.md).
	logModel := r.caps.Offsets && r.caps.OrderedPartitions && r.w.Queue == nil && !r.plan.Segment.Distributed()
	h := history.Header{Model: history.ModelQueue}
	if logModel {
		h.Model = history.ModelLog
	}
	if g, err := history.ParseGuarantee(r.w.Guarantee); err == nil {
		h.Guarantee = g
	}
	r.hist = &recorder{w: history.NewWriter(out, h, history.WithClock(r.now)), out: out, log: logModel}
	return nil
}

func (r *run) startConsumers(ctx context.Context) error {
	for _, c := range r.consumers {
		if err := c.start(ctx, r); err != nil {
			return fmt.Errorf("start consumer %s: %w", c.id, err)
		}
	}
	return nil
}

// teardown closes the run's clients within closeBudget, then deletes its
// topics within deleteBudget. Topics it could not delete are named in the
// result's warnings, so the user can delete them by hand.
func (r *run) teardown(parent context.Context, closeBudget, deleteBudget time.Duration) error {
	r.stopSupervising()
	ctx, cancel := context.WithTimeout(parent, closeBudget)
	defer cancel()
	var errs []error
	for _, c := range r.consumers {
		if c.c != nil {
			if err := c.c.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("close consumer %s: %w", c.id, err))
			}
		}
	}
	for _, pr := range r.producers {
		if err := pr.current().Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close producer %d: %w", pr.id, err))
		}
	}
	if _, err := r.wait(ctx, PointClosed); err != nil {
		errs = append(errs, err)
	}
	if r.r.keepTopics || !r.plan.CreatesTopics {
		return errors.Join(errs...) // shard 0 deletes them
	}
	dctx, dcancel := context.WithTimeout(parent, deleteBudget)
	defer dcancel()
	for _, t := range r.topics {
		if err := r.sys.DeleteTopic(dctx, t.name); err != nil {
			errs = append(errs, fmt.Errorf("delete topic %s: %w", t.name, err))
			r.warnings = append(r.warnings, fmt.Sprintf("left behind: topic %s on %s (with its queues, streams or groups) could not be deleted: %v", t.name, r.sys.Name(), err))
			continue
		}
		r.r.resources.deleted(t.name)
	}
	return errors.Join(errs...)
}

func (r *run) event(kind, consumer string, partitions []int32, detail string) {
	r.addEvent(results.Event{Kind: kind, Consumer: consumer, Partitions: partitions, Detail: detail})
}

// eventAt records an event that happened at t (a shard's common instant).
func (r *run) eventAt(t time.Time, kind, detail string) {
	e := results.Event{Kind: kind, Detail: detail, Time: t, Elapsed: r.elapsed(r.since(t))}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// addEvent records e at the current time.
func (r *run) addEvent(e results.Event) {
	now := r.now()
	e.Time, e.Elapsed = r.at(now), r.elapsed(now)
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// noteSendError keeps the first send error for the log and the result.
func (r *run) noteSendError(err error) {
	r.mu.Lock()
	r.sendErrs++
	first := r.firstErr == nil
	if first {
		r.firstErr = err
	}
	r.mu.Unlock()
	if first {
		r.log.Warn("send failed (first of possibly many)", "err", err)
	}
}

// topicBase names a run's topics: the workload name made safe for every
// system's naming rules, and a run id so concurrent or repeated runs never
// share a topic.
func topicBase(workload, runID string) string {
	var b strings.Builder
	b.WriteString("bb-")
	for _, c := range strings.ToLower(workload) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() > 60 {
			break
		}
	}
	return strings.TrimSuffix(b.String(), "-") + "-" + runID
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
