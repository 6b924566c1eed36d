// Package nats is the NATS JetStream adapter: [NATS] implements
// adapters.System and adapters.Lagger on top of the jetstream package of
// github.com/nats-io/nats.go (not the deprecated JetStreamContext).
//
// # Mapping
//
//   - A topic is one stream "BB_<topic>" with one subject per partition,
//     "bb.<topic>.<p>", listed explicitly so the stream itself records the
//     partition count (servers before 2.10 have no stream metadata). Names
//     are sanitised to [A-Za-z0-9_-]; a name that had to change gets a hash
//     suffix so distinct topics never collide.
//   - The stream uses limits retention (a log: several subscriptions each see
//     every message). TopicSpec.RetentionBytes becomes the stream's MaxBytes,
//     RetentionBytes × partitions, because JetStream limits bytes per stream,
//     not per subject.
//   - A subscription is one durable pull consumer per partition,
//     "<subscription>_p<p>", filtered on that partition's subject. One durable
//     per partition (instead of one for the whole topic) is what makes
//     broker-side lag per partition exact: consumer info reports NumPending
//     and NumAckPending for its filter only. A member of a subscription
//     fetches only the partitions its local group assigns it, one member per
//     partition at a time (group.go); with ConsumerConfig.Queue every member
//     pulls from every partition's durable instead (competing consumers).
//   - Offsets are stream sequences: one sequence space per stream, so they
//     grow within a partition but have gaps (other partitions' messages).
//   - Durables of partitioned topics ack cumulatively (AckAll): the one
//     member reading a partition acks its last accepted message every
//     CommitInterval, like a Kafka commit; durables of queue topics
//     (TopicSpec.Queue) ack per message (group.go, client.go).
//   - Queue semantics: Release is Nak, Reject is Term, the delivery limit
//     is the durables' MaxDeliver. Dead-letter destinations are the
//     adapter's own: one stream "BBDLQ_<topic>" with a subject per
//     subscription (see queue.go).
//
// # Order
//
// OrderedPartitions holds: one member fetches a partition's durable at a
// time, and a takeover starts from the durable's ack floor (group.go).
// Pull consumers have no single-active-member mode of their own before the
// priority groups of nats-server 2.11 (pinned clients), and the local test
// server is 2.9, so the assignment is the adapter's local group; see
// docs/adapters/nats.md.
package nats

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/localgroup"
)

var (
	_ adapters.System            = (*NATS)(nil)
	_ adapters.Lagger            = (*NATS)(nil)
	_ adapters.DeadLetterCounter = (*NATS)(nil)
)

// NATS is a connected NATS JetStream system. It is safe for concurrent use.
// Each producer and consumer opens its own connection, so that a consumer's
// Crash drops only its own.
type NATS struct {
	cfg    Config
	nc     *natsgo.Conn
	js     jetstream.JetStream
	groups localgroup.Registry // local consumer groups, see group.go
	// crashedDurables holds the durables (by name) whose owner crashed
	// holding the partition: only their next owner resets them to the ack
	// floor (takeOver). Any other durable may be shared with members in
	// other processes (a sharded run), whose pending acks are not a crash.
	crashedDurables sync.Map
}

// New validates cfg, connects and checks that JetStream is enabled. A server
// that cannot be reached, or has JetStream disabled, gives an error wrapping
// adapters.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*NATS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &NATS{cfg: cfg}
	nc, js, err := n.connect(ctx, "brokerbench-admin", adapters.RoleAdmin)
	if err != nil {
		return nil, err
	}
	n.nc, n.js = nc, js
	return n, nil
}

// connect opens a connection named name and its JetStream handle, checking
// that JetStream answers.
func (n *NATS) connect(ctx context.Context, name, role string, jsOpts ...jetstream.JetStreamOpt) (*natsgo.Conn, jetstream.JetStream, error) {
	opts := n.cfg.options(name)
	if n.cfg.Dialer != nil {
		// nats.go upgrades to TLS itself over whatever the dialer returns.
		opts = append(opts, natsgo.SetCustomDialer(roleDialer{n.cfg.Dialer(role), n.cfg.ConnectTimeout}))
	}
	nc, err := natsgo.Connect(n.cfg.URL, opts...)
	if err != nil {
		// Refused credentials or a TLS mismatch are configuration errors,
		// not an unavailable system.
		if errors.Is(err, natsgo.ErrAuthorization) || errors.Is(err, natsgo.ErrAuthExpired) ||
			errors.Is(err, natsgo.ErrSecureConnWanted) || errors.Is(err, natsgo.ErrSecureConnRequired) {
			return nil, nil, fmt.Errorf("nats connect to %s: %w", n.cfg.endpoint(), err)
		}
		return nil, nil, fmt.Errorf("nats connect to %s: %w: %w", n.cfg.endpoint(), adapters.ErrUnavailable, err)
	}
	jsOpts = append(jsOpts, jetstream.WithDefaultTimeout(n.cfg.APITimeout))
	js, err := jetstream.New(nc, jsOpts...)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("nats jetstream handle: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("nats JetStream at %s: %w: %w", n.cfg.endpoint(), adapters.ErrUnavailable, err)
	}
	return nc, js, nil
}

// Name returns Config.Name ("nats" by default).
func (n *NATS) Name() string { return n.cfg.Name }

// Capabilities of NATS JetStream: emulated partitions (a subject each),
// replay (limits retention and DeliverAll), competing consumers with
// per-message acks, broker-side lag, and idempotent producers: the adapter
// never re-publishes a message the stream may have stored, and with
// Config.Dedup a Nats-Msg-Id lets the stream drop re-publishes within its
// duplicate window (2 min).
// Queue semantics are Nak, Term and MaxDeliver; dead-letter streams are the
// adapter's own (see queue.go). Partitions are assigned to the members of a
// subscription and rebalanced by a local group (one process; group.go), so
// partitions are consumed in order.
func (n *NATS) Capabilities() adapters.Capabilities { return capabilities() }

// CapabilityVariants lists the capabilities for the docs' matrix.
func CapabilityVariants() []adapters.CapabilityVariant {
	return []adapters.CapabilityVariant{{Label: "nats jetstream", Capabilities: capabilities(), Mapping: adapters.Mapping{
		Topic:        "one stream `BB_<topic>`",
		Partition:    "a subject `bb.<topic>.<p>` of the stream",
		Subscription: "a durable pull consumer per partition, filtered on its subject",
		Member:       "fetches only the durables its local group (one process) assigns it, p mod n. Queue: every member pulls from every durable (competing)",
		Ack:          "AckAll: the last accepted message of a partition every CommitInterval or half of MaxAckPending (DoubleAck each with sync). Queue: Ack per message; Nak, Term",
		Commit:       "the durable's ack floor, confirmed by a PING/PONG every CommitInterval; a takeover after a crash re-creates the durable at it",
	}}}
}

func capabilities() adapters.Capabilities {
	return adapters.Capabilities{
		Partitions:        true,
		Replay:            true,
		ConsumerGroups:    true,
		Rebalance:         true,
		PerMessageAck:     true,
		OrderedPartitions: true,
		BrokerLag:         true,
		Idempotence:       true,
		Offsets:           true,
		Queue:             true,
		DeadLetter:        true,
	}
}

// Info reports the connected server's version and the nats.go version.
func (n *NATS) Info(context.Context) (adapters.Info, error) {
	info := adapters.Info{
		Server:   "unknown",
		Client:   "github.com/nats-io/nats.go v" + natsgo.Version,
		Endpoint: n.cfg.endpoint(),
	}
	if v := n.nc.ConnectedServerVersion(); v != "" {
		info.Server = "NATS " + v
	}
	return info, nil
}

// Close closes the administrative connection. Producers and consumers have
// their own and must be closed separately.
func (n *NATS) Close() error {
	n.nc.Close()
	return nil
}

// sanitize maps s to a token valid in stream, consumer and subject names:
// [A-Za-z0-9_-] are kept, anything else becomes '_', and if anything changed
// an FNV-32 suffix of the original keeps distinct inputs distinct.
func sanitize(s string) string {
	changed := false
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			b[i] = '_'
			changed = true
		}
	}
	if !changed {
		return s
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return string(b) + "_" + strconv.FormatUint(uint64(h.Sum32()), 36)
}

func streamName(topic string) string { return "BB_" + sanitize(topic) }

func subject(topic string, p int) string { return "bb." + sanitize(topic) + "." + strconv.Itoa(p) }

func durableName(sub string, p int) string { return sanitize(sub) + "_p" + strconv.Itoa(p) }

// partitionOf parses the partition from a subject "bb.<topic>.<p>".
func partitionOf(subj string) (int32, bool) {
	i := strings.LastIndexByte(subj, '.')
	if i < 0 {
		return 0, false
	}
	p, err := strconv.ParseInt(subj[i+1:], 10, 32)
	return int32(p), err == nil && p >= 0
}

// streamPartitions returns the partition count of topic's stream.
func streamPartitions(ctx context.Context, js jetstream.JetStream, topic string) (jetstream.Stream, int, error) {
	s, err := js.Stream(ctx, streamName(topic))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, 0, fmt.Errorf("topic %q: %w", topic, adapters.ErrTopicNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("look up stream of topic %q: %w", topic, err)
	}
	return s, len(s.CachedInfo().Config.Subjects), nil
}

// CreateTopic creates the topic's stream and, for each subscription, one
// durable consumer per partition starting at the first message (so nothing
// published after CreateTopic is missed), with MaxDeliver set to
// MaxDeliveries when that is > 0. DeadLetter creates the dead-letter stream
// "BBDLQ_<topic>" (see queue.go). It is idempotent; an existing stream with
// another partition count gives an error wrapping adapters.ErrTopicMismatch.
func (n *NATS) CreateTopic(ctx context.Context, spec adapters.TopicSpec) error {
	if spec.Name == "" || spec.Partitions < 1 {
		return fmt.Errorf("create topic %q: need a name and at least 1 partition (got %d)", spec.Name, spec.Partitions)
	}
	if spec.MaxDeliveries < 0 {
		return fmt.Errorf("create topic %q: MaxDeliveries %d is negative", spec.Name, spec.MaxDeliveries)
	}
	sc := jetstream.StreamConfig{
		Name:      streamName(spec.Name),
		Subjects:  make([]string, spec.Partitions),
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxBytes:  -1,
		MaxMsgs:   -1,
		Storage:   jetstream.FileStorage,
		Replicas:  n.cfg.Replicas,
	}
	for p := range sc.Subjects {
		sc.Subjects[p] = subject(spec.Name, p)
	}
	if n.cfg.Storage == "memory" {
		sc.Storage = jetstream.MemoryStorage
	}
	sc.Storage, sc.Replicas = n.streamDurability(spec.Durability, sc.Storage, sc.Replicas)
	if spec.RetentionBytes > 0 {
		sc.MaxBytes = spec.RetentionBytes * int64(spec.Partitions)
	}
	stream, err := n.js.CreateStream(ctx, sc)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		var parts int
		stream, parts, err = streamPartitions(ctx, n.js, spec.Name)
		if err == nil && parts != spec.Partitions {
			err = fmt.Errorf("has %d partitions, not %d: %w", parts, spec.Partitions, adapters.ErrTopicMismatch)
		}
	}
	if err != nil {
		return fmt.Errorf("create topic %q: %w", spec.Name, err)
	}
	if spec.DeadLetter {
		if err := n.createDLQStream(ctx, spec.Name); err != nil {
			return fmt.Errorf("create topic %q: %w", spec.Name, err)
		}
	}
	// Partitioned consumption acks cumulatively (one member per
	// partition, in order); queue consumption per message.
	ack := jetstream.AckAllPolicy
	if spec.Queue {
		ack = jetstream.AckExplicitPolicy
	}
	for _, sub := range spec.Subscriptions {
		for p := range spec.Partitions {
			cc := durableConfig(spec.Name, sub, p, jetstream.DeliverAllPolicy, ack)
			if spec.MaxDeliveries > 0 {
				cc.MaxDeliver = spec.MaxDeliveries
			}
			if _, err := ensureDurable(ctx, stream, cc); err != nil {
				return fmt.Errorf("create topic %q: %w", spec.Name, err)
			}
		}
	}
	return nil
}

// durableConfig is the consumer configuration of one (subscription,
// partition) durable, with JetStream's defaults for AckWait and
// MaxAckPending; NewConsumer tunes those.
func durableConfig(topic, sub string, p int, deliver jetstream.DeliverPolicy, ack jetstream.AckPolicy) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       durableName(sub, p),
		Description:   fmt.Sprintf("brokerbench subscription %q partition %d", sub, p),
		FilterSubject: subject(topic, p),
		DeliverPolicy: deliver,
		AckPolicy:     ack,
	}
}

// ensureDurable returns the durable named in cc, creating it if missing.
// An existing durable is returned as is.
func ensureDurable(ctx context.Context, s jetstream.Stream, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := s.Consumer(ctx, cc.Durable)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("look up durable %q: %w", cc.Durable, err)
	}
	c, err = s.CreateConsumer(ctx, cc)
	if errors.Is(err, jetstream.ErrConsumerExists) {
		c, err = s.Consumer(ctx, cc.Durable) // lost a creation race
	}
	if err != nil {
		return nil, fmt.Errorf("create durable %q: %w", cc.Durable, err)
	}
	return c, nil
}

// DeleteTopic deletes the topic's stream, and with it every durable
// consumer, and its dead-letter stream, and forgets its local groups.
// Missing streams are not an error.
func (n *NATS) DeleteTopic(ctx context.Context, topic string) error {
	n.groups.Forget(topic)
	for _, name := range []string{dlqStreamName(topic), streamName(topic)} {
		err := n.js.DeleteStream(ctx, name)
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("delete topic %q: delete stream %s: %w", topic, name, err)
		}
	}
	return nil
}

// Lag returns per partition the messages the subscription has not yet
// acknowledged: the durable's NumPending (not yet delivered) plus
// NumAckPending (delivered, not acknowledged). Partitions whose durable could
// not be read are missing from the map and named in the returned error.
func (n *NATS) Lag(ctx context.Context, topic, subscription string) (map[int32]int64, error) {
	s, parts, err := streamPartitions(ctx, n.js, topic)
	if err != nil {
		return nil, fmt.Errorf("lag: %w", err)
	}
	lag := make(map[int32]int64, parts)
	var errs []error
	for p := range parts {
		c, err := s.Consumer(ctx, durableName(subscription, p))
		if err != nil {
			errs = append(errs, fmt.Errorf("lag of %q partition %d: %w", topic, p, err))
			continue
		}
		// Consumer() already fetched fresh info; no second round trip.
		ci := c.CachedInfo()
		lag[int32(p)] = int64(ci.NumPending) + int64(ci.NumAckPending)
	}
	return lag, errors.Join(errs...)
}

// flushConn waits until the server has processed everything written on nc
// (a PING/PONG round trip). nats.go insists on a deadline; without one in
// ctx, timeout applies.
func flushConn(ctx context.Context, nc *natsgo.Conn, timeout time.Duration) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return nc.FlushWithContext(ctx)
}

// roleDialer adapts a context dial function to nats.go's CustomDialer.
type roleDialer struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout time.Duration
}

func (d roleDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	return d.dial(ctx, network, addr)
}
