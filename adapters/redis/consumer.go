package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/localgroup"
)

// Consumer defaults.
const (
	// DefaultCountPerPartition is the XREADGROUP COUNT per partition
	// stream when ConsumerConfig.Prefetch is 0: per stream, so a member
	// gets a full batch from every partition it owns in one round trip.
	DefaultCountPerPartition = 500
	// DefaultSessionTimeout is the XAUTOCLAIM idle time when
	// ConsumerConfig.SessionTimeout is 0.
	DefaultSessionTimeout = 30 * time.Second
	// DefaultCommitInterval is the XACK period for CommitInterval when
	// ConsumerConfig.CommitInterval is 0.
	DefaultCommitInterval = time.Second
	// maxClaimRounds bounds the XAUTOCLAIM calls per partition per claim
	// pass, so a large dead backlog cannot starve new entries.
	maxClaimRounds = 10
	// retryBackoff is the pause after a failed read before the next one.
	retryBackoff = 100 * time.Millisecond
	// spreadBlock caps the BLOCK of the one blocking read per turn of a
	// consumer on a cluster (see readSpread): it is how long entries
	// arriving on another partition of an idle consumer may wait.
	spreadBlock = 10 * time.Millisecond
)

// consumer runs one read loop goroutine over the partitions it owns (see
// group.go): it alternates XREADGROUP ">" over them with a periodic
// XAUTOCLAIM pass that takes over entries idle longer than the session
// timeout (a dead consumer's) and, after any batch with released entries, a
// redelivery of those (see queue.go). Handlers run on the loop goroutine,
// one at a time.
//
// A member of a consumer group (not cfg.Queue) owns the partitions its
// local group assigns it, and on taking one over first claims and handles
// every entry still pending on it, in ID order. A queue consumer owns every
// partition and first re-reads its own pending entries (left by an earlier
// consumer with the same ID).
//
// State owned by the loop goroutine: owned, ownKeys, acks, refs, nacks,
// committed, released, lastAck, lastClaim, delivery.
type consumer struct {
	client   goredis.UniversalClient
	cfg      adapters.ConsumerConfig
	name     string         // Redis consumer name (ConsumerConfig.ID)
	keys     []string       // stream key per partition
	size     consumerSizing // client.go
	count    int64          // COUNT per stream per read, for the owned partitions
	block    time.Duration
	minIdle  time.Duration // XAUTOCLAIM idle time
	claimGap time.Duration // time between claim passes
	noAck    bool
	interval time.Duration // 0: ack after every batch (CommitSync)
	limit    int           // delivery limit; 0: none
	dlq      []string      // dead-letter stream per partition; nil: drop rejected entries
	spread   bool          // cluster layout: one XREADGROUP per partition (keys.go)
	next     int           // spread: index in owned of the next short blocking read
	queue    bool          // cfg.Queue: competing for every partition
	g        *localgroup.Group

	amu      sync.Mutex     // guards assigned and changes
	assigned map[int32]bool // what Assigned reports
	changes  []change       // assignment changes the loop has not applied
	wake     chan struct{}  // poked when changes has grown

	owned   []int    // partitions the loop reads, ascending
	ownKeys []string // their streams

	ctx     context.Context // cancelled by Crash
	cancel  context.CancelFunc
	stop    chan struct{} // closed by Close or Crash
	exited  chan struct{} // closed when the loop returns
	crashed atomic.Bool
	once    sync.Once // closes stop

	closeOnce sync.Once
	closeErr  error

	acks      [][]string // per partition, handled IDs not yet XACKed
	refs      [][]uint64 // per partition, Refs of accepted deliveries not yet XACKed (OnAcked)
	committed []int64    // per partition, the last offset reported to OnCommitted; -1 none
	one       []uint64   // scratch for OnAcked with CommitAuto
	nacks     int
	released  bool // entries released and not yet redelivered
	resync    bool // a read failed: re-read what is pending before new entries (resynced)
	lastAck   time.Time
	lastClaim time.Time
	delivery  adapters.Delivery
	loopErr   error // set by the loop before exited closes

	errMu   sync.Mutex
	lastErr error // last background error (setErr), for diagnostics
}

// NewConsumer starts a consumer named cfg.ID in the group cfg.Subscription.
// The group is created on each partition if missing (at ID 0 for
// StartEarliest, $ for StartLatest); a group CreateTopic provisioned keeps its
// position. The consumers of one subscription created through one Redis
// value form a local group that assigns each partition to one of them (see
// group.go); OnAssigned and OnRevoked report the changes. With cfg.Queue the
// consumer competes for every partition instead. Two live consumers with the
// same ID share one Redis consumer and its pending entries: give each a
// distinct ID.
//
// The delivery limit is cfg.MaxDeliveries, or the topic's
// TopicSpec.MaxDeliveries when that is 0; the dead-letter stream exists when
// the topic was created with DeadLetter. The Delivery passed to the Handler
// is reused after it returns; its Key and Value slices are not, and are
// read-only views of the reply (see bytesOf).
func (r *Redis) NewConsumer(ctx context.Context, cfg adapters.ConsumerConfig) (adapters.Consumer, error) {
	if cfg.Handler == nil || cfg.Topic == "" || cfg.Subscription == "" || cfg.ID == "" {
		return nil, fmt.Errorf("new redis consumer: Handler, Topic, Subscription and ID are required")
	}
	meta, err := loadMeta(ctx, r.admin, cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("new redis consumer %q: %w", cfg.ID, err)
	}
	if cfg.Partitions != 0 && cfg.Partitions != meta.partitions {
		return nil, fmt.Errorf("new redis consumer %q: topic %q has %d partitions, not %d: %w", cfg.ID, cfg.Topic, meta.partitions, cfg.Partitions, adapters.ErrTopicMismatch)
	}
	start := "0"
	if cfg.Start == adapters.StartLatest {
		start = "$"
	}
	if err := r.createGroups(ctx, cfg.Topic, meta.partitions, cfg.Subscription, start); err != nil {
		return nil, fmt.Errorf("new redis consumer %q: %w", cfg.ID, err)
	}
	if cfg.MaxDeliveries < 0 {
		return nil, fmt.Errorf("new redis consumer %q: MaxDeliveries %d is negative", cfg.ID, cfg.MaxDeliveries)
	}
	dlq, err := r.dlqFor(ctx, cfg, meta)
	if err != nil {
		return nil, fmt.Errorf("new redis consumer %q: %w", cfg.ID, err)
	}
	c := newConsumerState(r, cfg, meta.partitions)
	c.dlq, c.limit = dlq, cfg.MaxDeliveries
	if c.limit == 0 {
		c.limit = meta.maxDeliveries
	}
	client, err := r.newClient("brokerbench-consumer-"+cfg.ID, adapters.RoleConsumers, 2)
	if err != nil {
		return nil, err
	}
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("new redis consumer %q: connect: %w: %w", cfg.ID, adapters.ErrUnavailable, err)
	}
	c.client = client
	if cfg.Queue {
		c.g = localgroup.New(meta.partitions) // a group of its own: every partition
	} else if c.g, err = r.groups.Group(cfg.Topic, cfg.Subscription, meta.partitions); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("new redis consumer %q: %w", cfg.ID, err)
	}
	if err := c.g.Join(ctx, c); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("new redis consumer %q: %w", cfg.ID, err)
	}
	go c.run()
	return c, nil
}

func newConsumerState(r *Redis, cfg adapters.ConsumerConfig, partitions int) *consumer {
	size := r.consumerSizing(cfg)
	c := &consumer{
		cfg:       cfg,
		name:      cfg.ID,
		keys:      r.layout.streams(cfg.Topic, partitions),
		spread:    r.layout.spread,
		size:      size,
		count:     size.count(partitions),
		block:     size.block,
		minIdle:   size.session,
		claimGap:  size.claimGap,
		noAck:     size.noAck,
		interval:  size.interval,
		queue:     cfg.Queue,
		stop:      make(chan struct{}),
		exited:    make(chan struct{}),
		acks:      make([][]string, partitions),
		refs:      make([][]uint64, partitions),
		committed: make([]int64, partitions),
		assigned:  make(map[int32]bool),
		wake:      make(chan struct{}, 1),
	}
	for p := range c.committed {
		c.committed[p] = -1
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Close leaves the local group (its partitions go to the remaining members
// once the loop has handled the batch in hand and XACKed everything
// handled), stops the loop, hands a queue consumer's entries released in
// that batch over to the other members (see handOverReleased), and removes
// the Redis consumer from the group when it has no pending entries left. It must not be called from the Handler (it
// waits for the loop that runs it); Crash may be.
func (c *consumer) Close(ctx context.Context) error {
	if c.crashed.Load() {
		return nil
	}
	c.closeOnce.Do(func() { c.closeErr = c.close(ctx) })
	return c.closeErr
}

func (c *consumer) close(ctx context.Context) error {
	leaveErr := c.g.Leave(ctx, c, true)
	c.once.Do(func() { close(c.stop) })
	select {
	case <-c.exited:
	case <-ctx.Done():
		// Abort the loop's Redis calls; it exits once the handler in
		// progress (if any) returns, and only then may the client go.
		c.cancel()
		go func() {
			<-c.exited
			_ = c.client.Close()
		}()
		return fmt.Errorf("close redis consumer %q: wait for read loop: %w", c.name, ctx.Err())
	}
	if c.crashed.Load() {
		return nil // Crash raced Close and won; it closed the client
	}
	err := errors.Join(c.loopErr, leaveErr)
	if ferr := c.flushAcks(ctx); ferr != nil && err == nil {
		err = ferr
	}
	if err == nil && c.released && c.queue {
		// A group member's released entries stay pending on partitions
		// it no longer owns; their new owners claimed them on takeover.
		err = c.handOverReleased(ctx)
	}
	if err == nil {
		err = c.deleteIfIdle(ctx)
	}
	c.cancel()
	if cerr := c.client.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close redis consumer %q: %w", c.name, cerr)
	}
	return err
}

// deleteIfIdle runs XGROUP DELCONSUMER on the partitions where this consumer
// has no pending entries (deleting a consumer with pending entries would
// drop them from the group's PEL, losing them).
func (c *consumer) deleteIfIdle(ctx context.Context) error {
	for _, k := range c.keys {
		n, err := c.client.XPendingExt(ctx, &goredis.XPendingExtArgs{
			Stream: k, Group: c.cfg.Subscription, Start: "-", End: "+", Count: 1, Consumer: c.name,
		}).Result()
		if err != nil {
			return fmt.Errorf("close redis consumer %q: XPENDING %s: %w", c.name, k, err)
		}
		if len(n) > 0 {
			continue
		}
		if err := c.client.XGroupDelConsumer(ctx, k, c.cfg.Subscription, c.name).Err(); err != nil {
			return fmt.Errorf("close redis consumer %q: XGROUP DELCONSUMER %s: %w", c.name, k, err)
		}
	}
	return nil
}

// Crash drops the connections at once without XACK and without removing the
// Redis consumer: its pending entries stay in the group until another
// consumer claims them: the member its partitions are reassigned to, at
// once, or a queue consumer after the session timeout. It does not wait for
// a running Handler, and nothing is acknowledged after it returns.
func (c *consumer) Crash() error {
	if c.crashed.Swap(true) {
		return nil
	}
	c.once.Do(func() { close(c.stop) })
	c.cancel()
	var err error
	if cerr := c.client.Close(); cerr != nil && !errors.Is(cerr, goredis.ErrClosed) {
		err = fmt.Errorf("crash redis consumer %q: %w", c.name, cerr)
	}
	if lerr := c.g.Leave(context.Background(), c, false); lerr != nil {
		err = errors.Join(err, fmt.Errorf("crash redis consumer %q: reassign partitions: %w", c.name, lerr))
	}
	return err
}

func (c *consumer) stopping() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// run is the read loop goroutine.
func (c *consumer) run() {
	defer close(c.exited)
	c.lastAck = time.Now()
	c.applyChanges()
	if c.queue {
		if err := c.readOwnPending(); err != nil {
			c.loopErr = err
			return
		}
	}
	for !c.stopping() {
		c.applyChanges()
		if len(c.owned) == 0 {
			select {
			case <-c.wake:
			case <-c.stop:
			}
			continue
		}
		if c.resync && !c.resynced() {
			waitOrStop(retryBackoff, c.stop)
			continue
		}
		if time.Since(c.lastClaim) >= c.claimGap {
			c.claimPass()
			c.lastClaim = time.Now()
		}
		streams, err := c.read(">")
		if err != nil {
			if c.stopping() {
				return
			}
			if isNoGroup(err) {
				c.loopErr = fmt.Errorf("redis consumer %q: topic or group gone: %w", c.name, err)
				return
			}
			// The read may have run on the server with its reply lost:
			// those entries are pending for this consumer and must come
			// before any newer one.
			c.resync = true
			waitOrStop(retryBackoff, c.stop)
			continue
		}
		c.handleStreams(streams)
		c.redeliverReleased()
		c.maybeFlushAcks()
	}
}

// resynced runs after a failed read: it XACKs what was handled, then
// handles what is pending on the owned partitions (a read whose reply was
// lost left its entries pending for this consumer) before the loop reads
// new entries, so each partition stays in order. It reports whether that
// worked; if not, the loop retries it after a back-off.
func (c *consumer) resynced() bool {
	if err := c.flushAcks(c.ctx); err != nil {
		return false
	}
	if c.queue {
		if err := c.readOwnPending(); err != nil {
			return false
		}
	} else {
		for _, p := range c.owned {
			if !c.takeOver(p) {
				return false
			}
		}
	}
	c.resync = false
	return true
}

func isNoGroup(err error) bool { return goredis.HasErrorPrefix(err, "NOGROUP") }

// read reads the owned partitions from ids: one ID for all of them (">" for
// new entries) or one per owned partition (for this consumer's pending
// entries after that ID). On a single server that is one multi-stream XREADGROUP; on
// a cluster, where the partitions live in different slots, see readSpread. A
// timeout with no entries returns nil, nil.
func (c *consumer) read(ids ...string) ([]goredis.XStream, error) {
	block := c.block
	if ids[0] != ">" {
		block = -1 // the PEL is read without blocking
	} else if c.interval > 0 && c.nacks > 0 {
		// Wake up in time for the next ack flush.
		block = max(min(block, c.interval-time.Since(c.lastAck)), time.Millisecond)
	}
	if c.spread {
		return c.readSpread(ids, block)
	}
	return c.readGroup(c.ownKeys, ids, block)
}

// readGroup runs one XREADGROUP over keys (all in one slot) from ids (one
// for all keys, or one per key); block < 0 does not block.
func (c *consumer) readGroup(keys, ids []string, block time.Duration) ([]goredis.XStream, error) {
	streams := make([]string, 0, 2*len(keys))
	streams = append(streams, keys...)
	for i := range keys {
		streams = append(streams, ids[min(i, len(ids)-1)])
	}
	res, err := c.client.XReadGroup(c.ctx, &goredis.XReadGroupArgs{
		Group: c.cfg.Subscription, Consumer: c.name, Streams: streams,
		Count: c.count, Block: block, NoAck: c.noAck,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	return res, err
}

// readSpread reads a cluster topic, whose partition streams are each in a
// slot of their own: one non-blocking XREADGROUP per partition, pipelined
// (the cluster client sends each node its commands in one round trip, to
// all nodes at once), and, only when all were empty and the read may block,
// one blocking read of at most spreadBlock on the next partition in turn.
// Redis cannot block on keys of several slots at once, so an idle consumer
// polls: entries arriving on a partition it is not blocked on wait up to
// spreadBlock; under load every pass returns entries and nobody waits.
// Entries read despite a failed command are returned (they are pending for
// this consumer and must be handled); the failure shows on the next read.
func (c *consumer) readSpread(ids []string, block time.Duration) ([]goredis.XStream, error) {
	pipe := c.client.Pipeline()
	cmds := make([]*goredis.XStreamSliceCmd, len(c.ownKeys))
	for i, k := range c.ownKeys {
		cmds[i] = pipe.XReadGroup(c.ctx, &goredis.XReadGroupArgs{
			Group: c.cfg.Subscription, Consumer: c.name, Streams: []string{k, ids[min(i, len(ids)-1)]},
			Count: c.count, Block: -1, NoAck: c.noAck,
		})
	}
	_, _ = pipe.Exec(c.ctx) // errors are per command, checked below
	var out []goredis.XStream
	var firstErr error
	for _, cmd := range cmds {
		res, err := cmd.Result()
		switch {
		case err == nil:
			out = append(out, res...)
		case !errors.Is(err, goredis.Nil) && firstErr == nil:
			firstErr = err
		}
	}
	if len(out) > 0 || (firstErr == nil && block < 0) {
		return out, nil
	}
	if firstErr != nil {
		return nil, firstErr
	}
	i := c.next % len(c.ownKeys)
	c.next = (i + 1) % len(c.ownKeys)
	return c.readGroup(c.ownKeys[i:i+1], ids[min(i, len(ids)-1):][:1], min(block, spreadBlock))
}

// readOwnPending re-delivers entries this consumer name read but never
// acknowledged (an earlier consumer with the same ID crashed), so a restart
// resumes them at once rather than after the session timeout. Each round
// reads on from the last ID it saw per partition, so entries released during
// the pass are left to the read loop's redelivery instead of looping here.
func (c *consumer) readOwnPending() error {
	if c.noAck {
		return nil
	}
	cursor := c.fromStart()
	for !c.stopping() {
		streams, err := c.read(cursor...)
		if err != nil {
			if c.stopping() {
				return nil
			}
			return fmt.Errorf("redis consumer %q: read own pending entries: %w", c.name, err)
		}
		for _, s := range streams {
			if i := slices.Index(c.ownKeys, s.Stream); i >= 0 && len(s.Messages) > 0 {
				cursor[i] = s.Messages[len(s.Messages)-1].ID
			}
		}
		if c.handleRedelivered(streams) == 0 {
			return nil
		}
		if err := c.flushAcks(c.ctx); err != nil {
			return err
		}
	}
	return nil
}

// claimPass XAUTOCLAIMs, per owned partition, entries idle for at least
// minIdle and handles them as redeliveries.
func (c *consumer) claimPass() {
	if c.noAck {
		return // NOACK entries are never pending
	}
	for _, k := range c.ownKeys {
		start := "0-0"
		for range maxClaimRounds {
			if c.stopping() {
				return
			}
			msgs, next, err := c.client.XAutoClaim(c.ctx, &goredis.XAutoClaimArgs{
				Stream: k, Group: c.cfg.Subscription, Consumer: c.name,
				MinIdle: c.minIdle, Start: start, Count: c.count,
			}).Result()
			if err != nil {
				break // retried on the next pass
			}
			c.handleRedelivered([]goredis.XStream{{Stream: k, Messages: msgs}})
			if next == "0-0" || next == "" {
				break
			}
			start = next
		}
	}
}

// handleStreams hands the entries of one ">" read (first deliveries) to the
// Handler.
func (c *consumer) handleStreams(streams []goredis.XStream) {
	for _, s := range streams {
		if p := c.partitionOf(s.Stream); p >= 0 {
			c.handle(p, s.Messages, nil)
		}
	}
}

func (c *consumer) partitionOf(key string) int {
	for p, k := range c.keys {
		if k == key {
			return p
		}
	}
	return -1
}

// handle calls the Handler for each entry of partition p, stopping at once
// after Crash, and settles the entry as the Handler decided (queued for XACK
// when accepted). counts is nil for first deliveries; for redeliveries it
// holds the PEL delivery counts (a missing entry means unknown, 0). An entry
// over the delivery limit is dead-lettered without delivery. Entries whose
// fields are gone (deleted or trimmed while pending) are acknowledged
// without delivery.
func (c *consumer) handle(p int, msgs []goredis.XMessage, counts map[string]int64) {
	for _, m := range msgs {
		if c.crashed.Load() {
			return
		}
		v, ok := m.Values[fieldValue].(string)
		if !ok {
			c.settle(p, m, 0, nil)
			continue
		}
		n := 1
		if counts != nil {
			n = int(counts[m.ID])
		}
		if c.limit > 0 && n > c.limit {
			c.deadLetter(p, m, n)
			continue
		}
		d := &c.delivery
		*d = adapters.Delivery{
			Topic:         c.cfg.Topic,
			Partition:     int32(p),
			Offset:        IDToOffset(m.ID),
			Value:         bytesOf(v),
			Redelivered:   counts != nil,
			DeliveryCount: n,
		}
		if k, ok := m.Values[fieldKey].(string); ok {
			d.Key = bytesOf(k)
		}
		c.cfg.Handler(d)
		if c.crashed.Load() {
			return // a crashed process settles nothing
		}
		c.settle(p, m, n, d)
	}
}

// bytesOf returns the bytes of s without copying them: go-redis hands
// each field over as a string of its own, so Key and Value are views of
// memory nothing else uses or reuses (a handler must not modify them, as
// adapters.Handler says). The copy []byte(s) would make was the largest
// per-entry cost of handling after the reply's parsing (1 KiB memmove).
func bytesOf(s string) []byte {
	if s == "" {
		return []byte{} // not nil: a present empty field stays non-nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// maybeFlushAcks XACKs after every batch for CommitSync, or once the commit
// interval has passed for CommitInterval.
func (c *consumer) maybeFlushAcks() {
	if c.nacks == 0 || c.crashed.Load() {
		return
	}
	if c.interval > 0 && time.Since(c.lastAck) < c.interval {
		return
	}
	if err := c.flushAcks(c.ctx); err != nil {
		// Entries stay pending and are re-acked by the next flush or, if
		// this consumer dies, claimed and redelivered: at-least-once holds.
		return
	}
}

// flushAcks sends one XACK per partition with pending acks, pipelined. Acks
// that fail stay queued for the next flush.
func (c *consumer) flushAcks(ctx context.Context) error {
	c.lastAck = time.Now()
	if c.nacks == 0 || c.crashed.Load() {
		return nil
	}
	pipe := c.client.Pipeline()
	for p, ids := range c.acks {
		if len(ids) > 0 {
			pipe.XAck(ctx, c.keys[p], c.cfg.Subscription, ids...)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis consumer %q: XACK: %w", c.name, err)
	}
	c.reportAcks()
	for p := range c.acks {
		c.acks[p] = c.acks[p][:0]
		c.refs[p] = c.refs[p][:0]
	}
	c.nacks = 0
	return nil
}
