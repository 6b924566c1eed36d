// Package kafka is the brokerbench adapter for Kafka and every broker that
// speaks the Kafka protocol, including the embedded refbroker, built on
// franz-go (kgo for producing and group consuming, kadm for administration
// and lag).
//
// The main type is [Kafka], an [adapters.System] and [adapters.Lagger]
// created by [New] from a [Config] (see [Default] and [ConfigFromEnv]).
// Producers send asynchronously with a bounded number of sends in flight and
// honour Message.Partition exactly. Consumers are classic consumer-group
// members with the chosen assignor, optional static membership and one of
// three commit modes; Crash drops every connection of the consumer at once
// and stops it from dialing, so the group sees a dead member only when its
// session times out. With ConsumerConfig.Queue a consumer is instead a
// share-group (KIP-932) member that accepts, releases or rejects each
// record (share.go). See docs/adapters/kafka.md for the mapping of every
// setting.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/adapters"
)

var (
	_ adapters.System = (*Kafka)(nil)
	_ adapters.Lagger = (*Kafka)(nil)
)

// franzModule is the module whose version Info reports as the client.
const franzModule = "github.com/twmb/franz-go"

// Kafka is a connection to one Kafka-protocol cluster. It is safe for
// concurrent use. It holds one admin client for topics, offsets and lag;
// every producer and consumer gets its own kgo client so that they fail,
// crash and close independently.
type Kafka struct {
	cfg   Config
	admin *kgo.Client
	adm   *kadm.Client

	// shareGroups is whether the broker serves share groups (KIP-932),
	// detected once by New; it is Capabilities.Queue.
	shareGroups bool

	mu     sync.Mutex
	closed bool
	// groups maps a topic to the subscriptions (group ids) consumers of this
	// System used on it, so DeleteTopic can delete those groups too.
	groups map[string]map[string]struct{}
	// limits maps a topic to its TopicSpec.MaxDeliveries, the delivery
	// limit of share consumers that do not set their own.
	limits map[string]int
	// shares holds the subscriptions used as share groups, for which Lag
	// has no committed offsets to read.
	shares map[string]struct{}
}

// New validates cfg, connects an admin client, checks that a broker
// answers and detects whether it serves share groups (Capabilities.Queue).
// A cluster that cannot be reached yields an error wrapping
// adapters.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*Kafka, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dial, err := newDialer(cfg, adapters.RoleAdmin, nil)
	if err != nil {
		return nil, err
	}
	opts, err := cfg.clientOpts(cfg.ClientID+"-admin", dial)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create kafka admin client: %w", err)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		// A Kafka error code means a broker answered (for example a SASL
		// authentication failure): that is misconfiguration, not an
		// unavailable system.
		if ke := (*kerr.Error)(nil); errors.As(err, &ke) {
			return nil, fmt.Errorf("connect to kafka %s: %w", strings.Join(cfg.Brokers, ","), err)
		}
		return nil, fmt.Errorf("connect to kafka %s: %w: %w", strings.Join(cfg.Brokers, ","), adapters.ErrUnavailable, err)
	}
	k := &Kafka{
		cfg:    cfg,
		admin:  cl,
		adm:    kadm.NewClient(cl),
		groups: make(map[string]map[string]struct{}),
		limits: make(map[string]int),
		shares: make(map[string]struct{}),
	}
	if k.shareGroups, err = k.detectShareGroups(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("connect to kafka %s: %w", strings.Join(cfg.Brokers, ","), err)
	}
	return k, nil
}

// Name returns Config.Name ("kafka" by default).
func (k *Kafka) Name() string { return k.cfg.Name }

// Capabilities reports everything but per-message acks for the default
// consumer-group consumers: Kafka commits offsets, so a handled message is
// acknowledged together with all before it in its partition. Queue holds
// when the broker serves share groups (ConsumerConfig.Queue then makes a
// share consumer with per-record acks). DeadLetter is false: Kafka share
// groups archive rejected and over-limit records rather than moving them to
// a dead-letter topic (KIP-1191 is future work).
func (k *Kafka) Capabilities() adapters.Capabilities { return capabilities(k.shareGroups) }

// CapabilityVariants lists the capabilities for the docs' matrix: with and
// without a broker serving share groups.
func CapabilityVariants() []adapters.CapabilityVariant {
	m := adapters.Mapping{
		Topic:        "a topic",
		Partition:    "a partition",
		Subscription: "a consumer group",
		Member:       "a group member; the broker's coordinator assigns partitions (Assignor). Queue: a share group, records shared by all members",
		Ack:          "none per record (offsets); share group: acknowledge accept/release/reject",
		Commit:       "OffsetCommit of the next offset per partition, every CommitInterval or after each poll (sync), reported when the broker accepts it",
	}
	plain := m
	plain.Member = "a group member; the broker's coordinator assigns partitions (Assignor)"
	plain.Ack = "none per record (offsets)"
	return []adapters.CapabilityVariant{
		{Label: "refbroker / kafka with share groups", Capabilities: capabilities(true), Mapping: m},
		{Label: "kafka without share groups", Capabilities: capabilities(false), Mapping: plain},
	}
}

func capabilities(shareGroups bool) adapters.Capabilities {
	return adapters.Capabilities{
		Partitions:        true,
		Replay:            true,
		ConsumerGroups:    true,
		Rebalance:         true,
		StaticMembership:  true,
		PerMessageAck:     false,
		OrderedPartitions: true,
		BrokerLag:         true,
		Idempotence:       true,
		Offsets:           true,
		Queue:             shareGroups,
		DeadLetter:        false,
	}
}

// Info reports the franz-go version this binary was built with, the
// broker's version as guessed by kadm from the first answering broker's
// ApiVersions response ("unknown" when no guess matches), and the bootstrap
// brokers.
func (k *Kafka) Info(ctx context.Context) (adapters.Info, error) {
	info := adapters.Info{
		Server:   "unknown",
		Client:   clientVersion(),
		Endpoint: strings.Join(k.cfg.Brokers, ","),
	}
	if k.cfg.Server != "" {
		info.Server = k.cfg.Server
		return info, nil
	}
	vs, err := k.adm.ApiVersions(ctx)
	if err != nil {
		return info, fmt.Errorf("kafka ApiVersions: %w", err)
	}
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			continue
		}
		if g := v.VersionGuess(); g != "" && !strings.Contains(g, "unknown") {
			// A guess from API versions, e.g. "Kafka v3.8" or "Kafka
			// between v1.0 and v1.1"; refbroker and kfake are reported by
			// the Kafka version whose API ranges they match.
			info.Server = "Kafka " + g
		}
		break
	}
	return info, nil
}

// clientVersion names the franz-go module and version linked into the
// binary, or the version in go.mod when build info is unavailable.
func clientVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == franzModule {
				if d.Replace != nil {
					d = d.Replace
				}
				return franzModule + " " + d.Version
			}
		}
	}
	return franzModule + " v1.22.3"
}

// CreateTopic creates spec.Name with spec.Partitions partitions and
// Config.ReplicationFactor replicas, setting retention.bytes when
// spec.RetentionBytes > 0. An existing topic with the same partition count
// is success; a different count is an error wrapping adapters.ErrTopicMismatch.
// Subscriptions need no provisioning in Kafka: groups are created on join.
func (k *Kafka) CreateTopic(ctx context.Context, spec adapters.TopicSpec) error {
	if spec.Name == "" || spec.Partitions < 1 || spec.MaxDeliveries < 0 {
		return fmt.Errorf("create topic %q with %d partitions, MaxDeliveries %d: %w: need a name, at least 1 partition and MaxDeliveries >= 0",
			spec.Name, spec.Partitions, spec.MaxDeliveries, adapters.ErrInvalidConfig)
	}
	if spec.DeadLetter {
		return fmt.Errorf("create topic %q: %w: DeadLetter: Kafka share groups archive rejected records; there is no dead-letter topic", spec.Name, adapters.ErrNotApplicable)
	}
	if spec.MaxDeliveries > 0 {
		k.mu.Lock()
		k.limits[spec.Name] = spec.MaxDeliveries
		k.mu.Unlock()
	}
	brokers := 0
	if spec.Durability == adapters.DurabilityReplicated {
		md, err := k.adm.BrokerMetadata(ctx)
		if err != nil {
			return fmt.Errorf("create topic %q: count brokers for durability replicated: %w", spec.Name, err)
		}
		brokers = len(md.Brokers)
	}
	configs, rf := durabilityConfigs(spec.Durability, k.cfg.ReplicationFactor, brokers)
	if spec.RetentionBytes > 0 {
		if configs == nil {
			configs = map[string]*string{}
		}
		configs["retention.bytes"] = kadm.StringPtr(strconv.FormatInt(spec.RetentionBytes, 10))
	}
	_, err := k.adm.CreateTopic(ctx, int32(spec.Partitions), rf, configs, spec.Name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %q: %w", spec.Name, err)
	}
	details, err := k.adm.ListTopics(ctx, spec.Name)
	if err != nil {
		return fmt.Errorf("describe existing topic %q: %w", spec.Name, err)
	}
	td, ok := details[spec.Name]
	if !ok || td.Err != nil {
		return fmt.Errorf("describe existing topic %q: %w", spec.Name, errors.Join(td.Err, errors.New("not in metadata")))
	}
	if got := len(td.Partitions); got != spec.Partitions {
		return fmt.Errorf("create topic %q with %d partitions: %w (it has %d)", spec.Name, spec.Partitions, adapters.ErrTopicMismatch, got)
	}
	return nil
}

// DeleteTopic deletes the topic (a missing topic is success) and then the
// consumer groups this System's consumers used on it. Groups that still have
// members, such as a crashed consumer not yet timed out, are left to the
// broker's offsets.retention.minutes; that is not an error.
func (k *Kafka) DeleteTopic(ctx context.Context, topic string) error {
	_, err := k.adm.DeleteTopic(ctx, topic)
	if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("delete topic %q: %w", topic, err)
	}
	k.mu.Lock()
	groups := slices.Sorted(maps.Keys(k.groups[topic]))
	delete(k.groups, topic)
	delete(k.limits, topic)
	k.mu.Unlock()
	if len(groups) == 0 {
		return nil
	}
	resps, err := k.adm.DeleteGroups(ctx, groups...)
	if err != nil {
		return fmt.Errorf("delete groups %v of topic %q: %w", groups, topic, err)
	}
	var errs []error
	for _, g := range groups {
		r := resps[g]
		switch {
		case r.Err == nil, errors.Is(r.Err, kerr.GroupIDNotFound), errors.Is(r.Err, kerr.NonEmptyGroup):
		default:
			errs = append(errs, fmt.Errorf("delete group %q of topic %q: %w", g, topic, r.Err))
		}
	}
	return errors.Join(errs...)
}

// topicLimit returns the MaxDeliveries topic was created with (0: none).
func (k *Kafka) topicLimit(topic string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.limits[topic]
}

// trackGroup remembers that group consumed topic, for DeleteTopic, and
// whether it is a share group, for Lag.
func (k *Kafka) trackGroup(topic, group string, share bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if share {
		k.shares[group] = struct{}{}
	}
	if k.groups[topic] == nil {
		k.groups[topic] = make(map[string]struct{})
	}
	k.groups[topic][group] = struct{}{}
}

// Lag returns, for every partition of topic, the end offset minus the
// subscription's committed offset; a partition without a commit counts from
// the log start offset, so a new group's lag is everything retained. When
// some partitions cannot be read it returns the others with an error. For
// a subscription this System used as a share group it returns an error
// wrapping adapters.ErrNotApplicable: share groups commit no offsets, and
// the share-group offset APIs (KIP-932 keys 90-92) are not used.
func (k *Kafka) Lag(ctx context.Context, topic, subscription string) (map[int32]int64, error) {
	k.mu.Lock()
	_, share := k.shares[subscription]
	k.mu.Unlock()
	if share {
		return nil, fmt.Errorf("lag of share group %q on %q: %w: share groups commit no offsets", subscription, topic, adapters.ErrNotApplicable)
	}
	ends, err := k.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %q: %w", topic, err)
	}
	starts, err := k.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %q: %w", topic, err)
	}
	committed, err := k.adm.FetchOffsets(ctx, subscription)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("fetch committed offsets of group %q: %w", subscription, err)
	}
	if len(ends[topic]) == 0 {
		return nil, fmt.Errorf("lag of %q: %w: %w", topic, adapters.ErrTopicNotFound, kerr.UnknownTopicOrPartition)
	}
	lag := make(map[int32]int64, len(ends[topic]))
	var errs []error
	for p, end := range ends[topic] {
		start, ok := starts.Lookup(topic, p)
		switch {
		case errors.Is(end.Err, kerr.UnknownTopicOrPartition):
			// kadm reports a missing topic as partition -1 with this error.
			errs = append(errs, fmt.Errorf("end offset of %s/%d: %w: %w", topic, p, adapters.ErrTopicNotFound, end.Err))
			continue
		case end.Err != nil:
			errs = append(errs, fmt.Errorf("end offset of %s/%d: %w", topic, p, end.Err))
			continue
		case !ok || start.Err != nil:
			errs = append(errs, fmt.Errorf("start offset of %s/%d: %w", topic, p, errors.Join(start.Err, errors.New("missing"))))
			continue
		}
		from := start.Offset
		if c, ok := committed.Lookup(topic, p); ok {
			if c.Err != nil {
				errs = append(errs, fmt.Errorf("committed offset of %s/%d: %w", topic, p, c.Err))
				continue
			}
			from = max(from, c.At)
		}
		lag[p] = max(end.Offset-from, 0)
	}
	return lag, errors.Join(errs...)
}

// Close closes the admin client. Producers and consumers have their own
// clients and must be closed by their owners.
func (k *Kafka) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	k.mu.Unlock()
	k.admin.Close()
	return nil
}
