package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/localgroup"
)

// Consumer defaults.
const (
	// DefaultPrefetch is the MaxAckPending of each partition's durable and
	// the client buffer when ConsumerConfig.Prefetch is 0.
	DefaultPrefetch = 1000
	// DefaultSessionTimeout is the AckWait (redelivery delay of unacked
	// messages) when ConsumerConfig.SessionTimeout is 0; JetStream's own
	// default.
	DefaultSessionTimeout = 30 * time.Second
)

// consumer consumes partition durables on its own connection. A member of a
// consumer group (not cfg.Queue) fetches the partitions its local group
// assigns it, one goroutine per partition (group.go); a queue consumer runs
// one Consume per partition durable, competing with the other members.
// Either way the Handler runs concurrently for different partitions, in
// order within one partition's stream of deliveries.
type consumer struct {
	crashedDurables *sync.Map // the NATS system's: see NATS.crashedDurables
	nc              *natsgo.Conn
	cfg             adapters.ConsumerConfig
	parts           int
	// flushTimeout bounds the ack flush in Close when its context has no
	// deadline (Config.APITimeout).
	flushTimeout time.Duration
	preAck       bool // CommitAuto on an AckExplicit durable: ack on receipt
	noAck        bool // CommitAuto on an AckNone durable
	sync         bool // CommitSync: wait for the server to confirm each ack
	// cumulative: a group member on an AckAll durable acks the last
	// accepted message of a partition every CommitInterval or ackEvery
	// deliveries, which acknowledges everything before it (group.go).
	cumulative bool
	ackEvery   int
	limit      int                 // the durables' MaxDeliver; 0: no limit
	dlqSubj    string              // dead-letter subject; "": the topic has none
	js         jetstream.JetStream // on nc; publishes dead-letter copies
	stream     jetstream.Stream    // the topic's stream, bound to js
	ctx        context.Context
	cancel     context.CancelFunc
	ccs        []jetstream.ConsumeContext
	queue      bool              // cfg.Queue: Consume every partition
	g          *localgroup.Group // group members only
	admin      jetstream.Stream  // the topic's stream on the System's connection, to reset durables
	interval   time.Duration     // CommitInterval: the period of flushes that report commits
	// Workers is a group member's partition bookkeeping: a partLoop per
	// assigned partition (group.go).
	localgroup.Workers[*partLoop]
	crashed atomic.Bool
	once    sync.Once
	errMu   sync.Mutex
	lastErr error // last error reported by a Consume, for Close
}

// NewConsumer starts consuming cfg.Topic through the subscription's
// per-partition durables, creating missing ones (DeliverAll for
// StartEarliest, DeliverNew for StartLatest). The consumers of one
// subscription created through one NATS value form a local group that
// assigns each partition to one of them (group.go); OnAssigned and
// OnRevoked report the changes. With cfg.Queue the consumer instead pulls
// from every partition's durable, competing with the other members, and
// OnAssigned is called once with all partitions and OnRevoked with all of
// them on Close. It sets each durable's
// AckWait to SessionTimeout and MaxAckPending to Prefetch (shared by all
// members of the subscription); the client buffers up to
// ceil(Prefetch/partitions) messages per partition. CommitAuto uses AckNone
// on durables it creates, and acks on receipt on durables CreateTopic
// provisioned (AckPolicy cannot change). cfg.MaxDeliveries, when > 0, becomes
// each durable's MaxDeliver; otherwise the durables keep theirs (from
// TopicSpec.MaxDeliveries).
//
// Each partition's Handler goroutine has its own Delivery, reused after the
// Handler returns; Key and Value are not reused.
func (n *NATS) NewConsumer(ctx context.Context, cfg adapters.ConsumerConfig) (adapters.Consumer, error) {
	if cfg.Handler == nil || cfg.Topic == "" || cfg.Subscription == "" || cfg.ID == "" {
		return nil, fmt.Errorf("new nats consumer: Handler, Topic, Subscription and ID are required")
	}
	stream, parts, err := streamPartitions(ctx, n.js, cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("new nats consumer %q: %w", cfg.ID, err)
	}
	if cfg.Partitions != 0 && cfg.Partitions != parts {
		return nil, fmt.Errorf("new nats consumer %q: topic %q has %d partitions, not %d: %w", cfg.ID, cfg.Topic, parts, cfg.Partitions, adapters.ErrTopicMismatch)
	}
	durables, err := tuneDurables(ctx, stream, cfg, parts)
	if err != nil {
		return nil, fmt.Errorf("new nats consumer %q: %w", cfg.ID, err)
	}
	c := &consumer{cfg: cfg, parts: parts, sync: cfg.Commit == adapters.CommitSync, flushTimeout: n.cfg.APITimeout,
		queue: cfg.Queue, admin: stream, crashedDurables: &n.crashedDurables}
	if cfg.Commit == "" || cfg.Commit == adapters.CommitInterval {
		c.interval = cfg.CommitInterval
		if c.interval <= 0 {
			c.interval = time.Second
		}
	}
	have := durables[0].CachedInfo().Config
	if cfg.Commit == adapters.CommitAuto {
		c.noAck = have.AckPolicy == jetstream.AckNonePolicy
		c.preAck = !c.noAck
	}
	if have.AckPolicy == jetstream.AckAllPolicy && cfg.Commit != adapters.CommitAuto {
		if cfg.Queue {
			// Competing members would acknowledge each other's messages.
			return nil, fmt.Errorf("new nats consumer %q: durables of subscription %q ack cumulatively (AckAll, created for partitioned consumption); queue consumption needs a topic created with Queue", cfg.ID, cfg.Subscription)
		}
		plan := planConsumer(cfg, parts)
		c.cumulative, c.ackEvery = !c.sync, plan.ackEvery(have.MaxAckPending)
		if c.cumulative && c.interval >= have.AckWait {
			return nil, fmt.Errorf("new nats consumer %q: CommitInterval %v is not below the durables' AckWait %v: JetStream would redeliver messages waiting for their cumulative ack; lower the interval or raise SessionTimeout", cfg.ID, c.interval, have.AckWait)
		}
	}
	c.limit = max(have.MaxDeliver, 0)
	dlq, err := hasDLQ(ctx, n.js, cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("new nats consumer %q: %w", cfg.ID, err)
	}
	if dlq {
		c.dlqSubj = dlqSubject(cfg.Topic, cfg.Subscription)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	nc, js, err := n.connect(ctx, "brokerbench-consumer-"+cfg.ID, adapters.RoleConsumers)
	if err != nil {
		c.cancel()
		return nil, fmt.Errorf("new nats consumer %q: %w", cfg.ID, err)
	}
	c.nc, c.js = nc, js
	if !cfg.Queue {
		if err := c.joinGroup(ctx, n); err != nil {
			_ = c.Crash()
			return nil, fmt.Errorf("new nats consumer %q: %w", cfg.ID, err)
		}
		return c, nil
	}
	if cfg.OnAssigned != nil {
		cfg.OnAssigned(allPartitions(parts))
	}
	if err := c.start(ctx, js); err != nil {
		_ = c.Crash()
		if cfg.OnRevoked != nil {
			cfg.OnRevoked(allPartitions(parts))
		}
		return nil, fmt.Errorf("new nats consumer %q: %w", cfg.ID, err)
	}
	return c, nil
}

// bind binds the topic's stream through this consumer's own connection
// (js), so that Crash drops everything, and listens for the durables'
// max-deliveries advisories.
func (c *consumer) bind(ctx context.Context, js jetstream.JetStream) error {
	s, err := js.Stream(ctx, streamName(c.cfg.Topic))
	if err != nil {
		return fmt.Errorf("bind stream: %w", err)
	}
	c.stream = s
	return c.listenMaxDeliveries()
}

// start runs one Consume per partition durable (queue consumers).
func (c *consumer) start(ctx context.Context, js jetstream.JetStream) error {
	if err := c.bind(ctx, js); err != nil {
		return err
	}
	perPart := planConsumer(c.cfg, c.parts).batch
	for p := range c.parts {
		cons, err := js.Consumer(ctx, streamName(c.cfg.Topic), durableName(c.cfg.Subscription, p))
		if err != nil {
			return fmt.Errorf("bind partition %d: %w", p, err)
		}
		cc, err := cons.Consume(c.handler(int32(p)), jetstream.PullMaxMessages(perPart), jetstream.ConsumeErrHandler(c.onConsumeErr))
		if err != nil {
			return fmt.Errorf("consume partition %d: %w", p, err)
		}
		c.ccs = append(c.ccs, cc)
	}
	return nil
}

func allPartitions(n int) []int32 {
	ps := make([]int32, n)
	for i := range ps {
		ps[i] = int32(i)
	}
	return ps
}

// tuneDurables makes sure each partition's durable exists and has the
// configured AckWait, MaxAckPending and (when cfg.MaxDeliveries > 0)
// MaxDeliver, updating it when they differ (all are editable; the ack and
// deliver policies are not and are left as found).
func tuneDurables(ctx context.Context, s jetstream.Stream, cfg adapters.ConsumerConfig, parts int) ([]jetstream.Consumer, error) {
	if cfg.MaxDeliveries < 0 {
		return nil, fmt.Errorf("MaxDeliveries %d is negative", cfg.MaxDeliveries)
	}
	deliver := jetstream.DeliverAllPolicy
	if cfg.Start == adapters.StartLatest {
		deliver = jetstream.DeliverNewPolicy
	}
	plan := planConsumer(cfg, parts)
	wait := plan.ackWait
	out := make([]jetstream.Consumer, parts)
	for p := range parts {
		want := durableConfig(cfg.Topic, cfg.Subscription, p, deliver, plan.ackPolicy)
		want.AckWait, want.MaxAckPending = wait, plan.maxAckPending
		if cfg.MaxDeliveries > 0 {
			want.MaxDeliver = cfg.MaxDeliveries
		}
		c, err := ensureDurable(ctx, s, want)
		if err != nil {
			return nil, err
		}
		have := c.CachedInfo().Config
		maxDeliver := have.MaxDeliver
		if cfg.MaxDeliveries > 0 {
			maxDeliver = cfg.MaxDeliveries
		}
		if have.AckPolicy != jetstream.AckNonePolicy &&
			(have.AckWait != wait || have.MaxAckPending != want.MaxAckPending || have.MaxDeliver != maxDeliver) {
			have.AckWait, have.MaxAckPending, have.MaxDeliver = wait, want.MaxAckPending, maxDeliver
			if c, err = s.UpdateConsumer(ctx, have); err != nil {
				return nil, fmt.Errorf("update durable %q: %w", have.Durable, err)
			}
		}
		if cfg.Commit != adapters.CommitAuto && c.CachedInfo().Config.AckPolicy == jetstream.AckNonePolicy {
			return nil, fmt.Errorf("durable %q acks nothing (created for CommitAuto); use a new subscription for %s commits", have.Durable, cfg.Commit)
		}
		out[p] = c
	}
	return out, nil
}

// handler returns the Consume callback of partition p.
func (c *consumer) handler(p int32) jetstream.MessageHandler {
	d := &adapters.Delivery{}
	var one []uint64 // OnAcked scratch
	return func(msg jetstream.Msg) {
		if ok, err := c.deliver(p, msg, d); ok && err == nil && c.cfg.OnAcked != nil {
			// Queue consumers ack each message at once; report it.
			one = append(one[:0], d.Ref)
			c.cfg.OnAcked(p, one)
		}
	}
}

// deliver hands msg, a delivery of partition p, to the Handler as d and
// settles it. It reports whether the message counts as acknowledged
// (accepted and acked, or acked on receipt) and any error of settling it.
func (c *consumer) deliver(p int32, msg jetstream.Msg, d *adapters.Delivery) (bool, error) {
	if c.crashed.Load() {
		return false, nil // a crashed process handles nothing more
	}
	if c.preAck {
		_ = msg.Ack()
	}
	*d = adapters.Delivery{Topic: c.cfg.Topic, Partition: p, Offset: -1, Value: msg.Data()}
	if seq, delivered, ok := ackSeqs(msg.Reply()); ok {
		d.Offset = int64(seq)
		d.Redelivered = delivered > 1
		d.DeliveryCount = int(delivered)
	}
	if key, err := decodeKey(msg.Headers()); err == nil {
		d.Key = key
	} else {
		c.onConsumeErr(nil, err)
	}
	if d.Value == nil {
		d.Value = []byte{} // an empty payload is still a value
	}
	c.cfg.Handler(d)
	if c.crashed.Load() {
		return false, nil
	}
	if c.noAck || c.preAck {
		// Already acknowledged: nothing to release, but a rejected
		// message can still be copied to the dead-letter subject.
		if d.Offset > 0 && d.Disposition == adapters.Reject && c.dlqSubj != "" {
			if err := c.copyToDLQ(p, uint64(d.Offset), msg.Headers(), msg.Data(), d.DeliveryCount); err != nil {
				c.onConsumeErr(nil, err)
			}
		}
		return d.Disposition == adapters.Accept, nil
	}
	if err := c.settle(p, msg, d); err != nil {
		// Not settled: redelivered after AckWait (at-least-once).
		err = fmt.Errorf("settle partition %d: %w", p, err)
		c.onConsumeErr(nil, err)
		return false, err
	}
	return d.Disposition == adapters.Accept, nil
}

func (c *consumer) onConsumeErr(_ jetstream.ConsumeContext, err error) {
	c.errMu.Lock()
	c.lastErr = err
	c.errMu.Unlock()
}

// Close drains every partition's Consume (buffered messages are handled and
// acked, no new ones are pulled), waits until the server has the acks, and
// closes the connection. Messages the server had already sent towards this
// consumer but that had not arrived are redelivered after AckWait. It must
// not be called from the Handler (it waits for the handlers); Crash may be.
func (c *consumer) Close(ctx context.Context) error {
	if c.crashed.Load() {
		return nil
	}
	var err error
	c.once.Do(func() { err = c.close(ctx) })
	return err
}

func (c *consumer) close(ctx context.Context) error {
	defer c.cancel()
	if !c.queue {
		return c.closeMember(ctx)
	}
	for _, cc := range c.ccs {
		cc.Drain()
	}
	for _, cc := range c.ccs {
		select {
		case <-cc.Closed():
		case <-ctx.Done():
			c.nc.Close()
			return fmt.Errorf("close nats consumer %q: drain: %w", c.cfg.ID, ctx.Err())
		}
	}
	// Acks are fire-and-forget publishes; a PING/PONG round trip makes sure
	// the server has processed them before the connection goes.
	err := flushConn(ctx, c.nc, c.flushTimeout)
	if err != nil {
		err = fmt.Errorf("close nats consumer %q: flush acks: %w", c.cfg.ID, err)
	}
	c.nc.Close()
	if c.cfg.OnRevoked != nil {
		c.cfg.OnRevoked(allPartitions(c.parts))
	}
	return err
}

// Crash closes the connection at once without acking: JetStream redelivers
// the unacknowledged messages to other members after AckWait. It does not
// wait for a running Handler, and nothing is acked after it returns.
func (c *consumer) Crash() error {
	if c.crashed.Swap(true) {
		return nil
	}
	c.cancel()
	if c.nc != nil {
		c.nc.Close()
	}
	if c.g != nil {
		for _, p := range c.Assigned() {
			c.crashedDurables.Store(durableName(c.cfg.Subscription, int(p)), struct{}{})
		}
		if err := c.g.Leave(context.Background(), c, false); err != nil {
			return fmt.Errorf("crash nats consumer %q: reassign partitions: %w", c.cfg.ID, err)
		}
	}
	return nil
}

// consumeErr returns the last error a Consume reported, ignoring the
// expected ones of a closing connection. It is for tests and diagnostics.
func (c *consumer) consumeErr() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if errors.Is(c.lastErr, natsgo.ErrConnectionClosed) {
		return nil
	}
	return c.lastErr
}

// ackSeqs reads a JetStream delivery's stream sequence and delivery count
// from its reply subject, as jetstream.Msg.Metadata does, but without
// allocating: Metadata builds a MsgMetadata and a time.Time per message,
// about a fifth of the consume loop's CPU. The subject is
// "$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>"
// (9 tokens) or, from newer servers, with "<domain>.<account hash>" after
// "$JS.ACK." and possibly a token at the end (11 or more). ok is false for
// anything else.
func ackSeqs(reply string) (seq, delivered uint64, ok bool) {
	const prefix = "$JS.ACK."
	if !strings.HasPrefix(reply, prefix) {
		return 0, 0, false
	}
	var at int // token index of <delivered>
	switch n := strings.Count(reply, ".") + 1; {
	case n == 9:
		at = 4
	case n >= 11:
		at = 6
	default:
		return 0, 0, false
	}
	rest := reply
	for i := 0; i < at; i++ {
		_, rest, _ = strings.Cut(rest, ".")
	}
	d, rest, _ := strings.Cut(rest, ".")
	sq, _, _ := strings.Cut(rest, ".")
	delivered, ok1 := parseUint(d)
	seq, ok2 := parseUint(sq)
	return seq, delivered, ok1 && ok2
}

// parseUint parses a non-empty decimal number.
func parseUint(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
