// Package redis is the Redis Streams adapter: [Redis] implements
// adapters.System and adapters.Lagger on top of github.com/redis/go-redis/v9.
//
// # Mapping
//
//   - A topic is one stream per partition plus a metadata hash
//     "bb:{<topic>}:meta" holding the partition count, the MAXLEN and the
//     queue settings. On a single server the streams are "bb:{<topic>}:<p>"
//     and a consumer reads all partitions with ONE multi-stream XREADGROUP
//     (one blocking connection, one round trip). On Redis Cluster each
//     partition stream is its own hash tag "bb:{<topic>:<p>}", so a topic's
//     partitions spread over the masters, and a consumer reads each
//     partition with its own XREADGROUP (Redis Cluster rejects a multi-key
//     command whose keys span slots). See keys.go.
//   - A subscription is one consumer group per partition stream, created by
//     CreateTopic from TopicSpec.Subscriptions (at ID 0, so nothing published
//     after CreateTopic is missed) or by NewConsumer for a subscription not
//     yet provisioned (at 0 or $ per ConsumerConfig.Start).
//   - Offsets are stream IDs "ms-seq" mapped to ms<<20|seq (see [IDToOffset]).
//   - A group member reads only the partitions its local group assigns it,
//     one member per partition at a time, so each partition is read in
//     order; an XACK of handled entries is the member's commit (group.go).
//     With ConsumerConfig.Queue a consumer instead competes with the others
//     for the entries of every partition.
//   - Queue semantics (release, reject, delivery limit, dead-letter streams
//     in the slot of the partition they take entries from) are built by the adapter on the
//     group's pending entries list; see queue.go.
//
// See docs/adapters/redis.md for the operator notes.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/localgroup"
)

var (
	_ adapters.System            = (*Redis)(nil)
	_ adapters.Lagger            = (*Redis)(nil)
	_ adapters.DeadLetterCounter = (*Redis)(nil)
	_ adapters.AckReporter       = (*Redis)(nil)
)

// Redis is a connected Redis Streams system. It is safe for concurrent use.
// Each producer and consumer gets its own client (connection pool), so that
// a consumer's Crash drops only its own connections.
type Redis struct {
	cfg    Config
	layout keyLayout // see keys.go
	admin  goredis.UniversalClient
	// lagField is whether XINFO GROUPS reports lag and entries-read (Redis
	// 7+). go-redis leaves absent fields at 0, indistinguishable from a real
	// 0, so older servers must always use the fallback.
	lagField bool
	groups   localgroup.Registry // local consumer groups, see group.go
	mu       sync.Mutex
	closed   bool
	// restore holds the server settings CreateTopic changed for a
	// workload's durability, put back by Close (durability.go).
	restore []configRestore
	// applyErr is why the last durability could not be applied, reported
	// with the read-back; nil when it was.
	applyErr error
	// waitReplicas > 0 makes acks=all producers WAIT for that many
	// replicas after each pipeline (durability replicated, durability.go).
	waitReplicas int
}

// New validates cfg, connects and pings the server. A server that cannot be
// reached gives an error wrapping adapters.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*Redis, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Redis{cfg: cfg, layout: keyLayout{spread: cfg.isCluster()}}
	admin, err := r.newClient("brokerbench-admin", adapters.RoleAdmin, 4)
	if err != nil {
		return nil, err
	}
	if err := admin.Ping(ctx).Err(); err != nil {
		_ = admin.Close()
		if isAuthError(err) {
			return nil, fmt.Errorf("redis authenticate at %s: %w", cfg.endpoint(), err)
		}
		return nil, fmt.Errorf("redis connect to %s: %w: %w", cfg.endpoint(), adapters.ErrUnavailable, err)
	}
	r.admin = admin
	info, err := r.Info(ctx)
	if err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("redis connect to %s: %w", cfg.endpoint(), err)
	}
	r.lagField = majorVersion(info.Server) >= 7
	return r, nil
}

// majorVersion parses the major version from "Redis 7.0.15"; 0 if unknown.
func majorVersion(server string) int {
	v, _ := strings.CutPrefix(server, "Redis ")
	major, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(major)
	return n
}

func isAuthError(err error) bool {
	return goredis.IsAuthError(err) || goredis.IsPermissionError(err)
}

// newClient returns a client with its own pool of at most poolSize
// connections. Retries are disabled: a retried XADD whose first reply was
// lost would store the message twice, and a retried XREADGROUP would leave
// entries pending in the group that nobody handles until XAUTOCLAIM.
func (r *Redis) newClient(name, role string, poolSize int) (goredis.UniversalClient, error) {
	tc, err := r.cfg.TLS.Build()
	if err != nil {
		return nil, err
	}
	var dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	if r.cfg.Dialer != nil {
		dialer = adapters.DialTLS(r.cfg.Dialer(role), tc)
	}
	return goredis.NewUniversalClient(&goredis.UniversalOptions{
		Dialer:        dialer,
		Addrs:         r.cfg.Addrs,
		IsClusterMode: r.cfg.Cluster,
		ClientName:    name,
		Username:      r.cfg.Username,
		Password:      r.cfg.Password,
		DB:            r.cfg.DB,
		TLSConfig:     tc,
		DialTimeout:   r.cfg.DialTimeout,
		MaxRetries:    -1,
		PoolSize:      poolSize,
	}), nil
}

// Name returns Config.Name ("redis" by default).
func (r *Redis) Name() string { return r.cfg.Name }

// Capabilities of Redis Streams: emulated partitions, replay (a new group can
// start at ID 0), consumer groups with per-entry XACK and broker-side lag.
// Queue semantics (release, reject, delivery counts and limits) and
// dead-letter streams are implemented by the adapter on top of the pending
// entries list (see queue.go). Partitions are assigned to the members of a
// subscription, one at a time, and rebalanced when one joins or leaves, by
// a local group (members in one process; see group.go), so partitions are
// consumed in order. There is no idempotent producer (Redis 7 has none).
func (r *Redis) Capabilities() adapters.Capabilities { return capabilities() }

// CapabilityVariants lists the capabilities for the docs' matrix.
func CapabilityVariants() []adapters.CapabilityVariant {
	return []adapters.CapabilityVariant{{Label: "redis streams", Capabilities: capabilities(), Mapping: adapters.Mapping{
		Topic:        "one stream per partition and a metadata hash",
		Partition:    "a stream `bb:{<topic>}:<p>` (cluster: `bb:{<topic>:<p>}`, a slot each)",
		Subscription: "a consumer group on every partition stream",
		Member:       "a Redis consumer that XREADGROUPs only the streams its local group (one process) assigns it, p mod n; on takeover it XAUTOCLAIMs what is pending first. Queue: every member reads every stream (competing)",
		Ack:          "XACK, pipelined per partition, every CommitInterval (each batch with sync)",
		Commit:       "the XACK reply: every entry up to the acked ID is acknowledged, so the next owner reads above it",
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
		Offsets:           true,
		Queue:             true,
		DeadLetter:        true,
	}
}

// Info reports the server version from INFO server and the go-redis version.
func (r *Redis) Info(ctx context.Context) (adapters.Info, error) {
	info := adapters.Info{
		Server:   "unknown",
		Client:   "github.com/redis/go-redis/v9 v" + goredis.Version(),
		Endpoint: r.cfg.endpoint(),
	}
	s, err := r.admin.Info(ctx, "server").Result()
	if err != nil {
		return info, fmt.Errorf("redis INFO server: %w", err)
	}
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			info.Server = "Redis " + v
		}
	}
	return info, nil
}

// Close puts back the server settings a workload's durability changed and
// closes the administrative connection. Producers and consumers have their
// own and must be closed separately.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(r.restoreConfig(ctx), r.admin.Close())
}

// topicMeta is what CreateTopic stores in the metadata hash.
type topicMeta struct {
	partitions    int
	maxLen        int64 // 0 means no trimming
	maxDeliveries int   // 0 means no delivery limit
	deadLetter    bool  // subscriptions get a dead-letter stream
}

// loadMeta reads a topic's metadata hash; a missing hash wraps
// adapters.ErrTopicNotFound.
func loadMeta(ctx context.Context, c goredis.Cmdable, topic string) (topicMeta, error) {
	vals, err := c.HMGet(ctx, metaKey(topic), "partitions", "maxlen", "maxdeliveries", "deadletter").Result()
	if err != nil {
		return topicMeta{}, fmt.Errorf("read metadata of topic %q: %w", topic, err)
	}
	ps, _ := vals[0].(string)
	if ps == "" {
		return topicMeta{}, fmt.Errorf("topic %q: %w", topic, adapters.ErrTopicNotFound)
	}
	var m topicMeta
	if m.partitions, err = strconv.Atoi(ps); err != nil || m.partitions < 1 {
		return topicMeta{}, fmt.Errorf("topic %q: corrupt partitions %q in %s", topic, ps, metaKey(topic))
	}
	if ml, _ := vals[1].(string); ml != "" {
		if m.maxLen, err = strconv.ParseInt(ml, 10, 64); err != nil {
			return topicMeta{}, fmt.Errorf("topic %q: corrupt maxlen %q in %s", topic, ml, metaKey(topic))
		}
	}
	if md, _ := vals[2].(string); md != "" {
		if m.maxDeliveries, err = strconv.Atoi(md); err != nil || m.maxDeliveries < 0 {
			return topicMeta{}, fmt.Errorf("topic %q: corrupt maxdeliveries %q in %s", topic, md, metaKey(topic))
		}
	}
	m.deadLetter = vals[3] == "1"
	return m, nil
}

// maxLenFor converts a retention in bytes to an approximate MAXLEN.
func (r *Redis) maxLenFor(retentionBytes int64) int64 {
	if retentionBytes <= 0 {
		return 0
	}
	return max(retentionBytes/r.cfg.EntryBytes, 1)
}

// CreateTopic records the topic's metadata and creates one consumer group
// per subscription on every partition stream, at ID 0 (MKSTREAM creates the
// streams). It is idempotent; an existing topic with another partition count
// gives an error wrapping adapters.ErrTopicMismatch. RetentionBytes becomes an
// approximate MAXLEN of RetentionBytes/Config.EntryBytes entries, applied by
// every XADD. MaxDeliveries and DeadLetter are stored with the metadata,
// where every consumer of the topic reads them; a re-create overwrites them.
// With DeadLetter, each subscription's dead-letter stream
// "bb:{<topic>}:dlq:<subscription>" is registered here (and by NewConsumer
// for subscriptions not listed) and appears with its first entry.
func (r *Redis) CreateTopic(ctx context.Context, spec adapters.TopicSpec) error {
	if spec.Name == "" || spec.Partitions < 1 {
		return fmt.Errorf("create topic %q: need a name and at least 1 partition (got %d)", spec.Name, spec.Partitions)
	}
	if spec.MaxDeliveries < 0 {
		return fmt.Errorf("create topic %q: MaxDeliveries %d is negative", spec.Name, spec.MaxDeliveries)
	}
	if spec.Durability != "" {
		// A refusal (CONFIG disabled or not permitted) does not fail the
		// topic: the read-back reports what the server gives, and why.
		err := r.applyDurability(ctx, spec.Durability)
		r.mu.Lock()
		r.applyErr = err
		r.mu.Unlock()
	}
	if r.cfg.MaxAge > 0 && spec.RetentionBytes > 0 {
		return fmt.Errorf("create topic %q: %w: the workload's retention (MAXLEN ~) and MaxAge (MINID ~) both trim; Redis trims by one strategy per XADD, unset one", spec.Name, adapters.ErrInvalidConfig)
	}
	mk := metaKey(spec.Name)
	set, err := r.admin.HSetNX(ctx, mk, "partitions", spec.Partitions).Result()
	if err != nil {
		return fmt.Errorf("create topic %q: %w", spec.Name, err)
	}
	if !set {
		m, err := loadMeta(ctx, r.admin, spec.Name)
		if err != nil {
			return fmt.Errorf("create topic: %w", err)
		}
		if m.partitions != spec.Partitions {
			return fmt.Errorf("create topic %q with %d partitions: has %d: %w", spec.Name, spec.Partitions, m.partitions, adapters.ErrTopicMismatch)
		}
	}
	dl := 0
	if spec.DeadLetter {
		dl = 1
	}
	if err := r.admin.HSet(ctx, mk, "maxlen", r.maxLenFor(spec.RetentionBytes),
		"maxdeliveries", spec.MaxDeliveries, "deadletter", dl).Err(); err != nil {
		return fmt.Errorf("create topic %q: set metadata: %w", spec.Name, err)
	}
	if err := r.createStreams(ctx, spec.Name, spec.Partitions); err != nil {
		return fmt.Errorf("create topic %q: %w", spec.Name, err)
	}
	for _, sub := range spec.Subscriptions {
		if err := r.createGroups(ctx, spec.Name, spec.Partitions, sub, "0"); err != nil {
			return fmt.Errorf("create topic %q: %w", spec.Name, err)
		}
		if spec.DeadLetter {
			if err := r.admin.SAdd(ctx, dlqSetKey(spec.Name), sub).Err(); err != nil {
				return fmt.Errorf("create topic %q: register dead-letter stream of %q: %w", spec.Name, sub, err)
			}
		}
	}
	return nil
}

// mkstreamGroup is a reserved group name used only to create empty streams.
const mkstreamGroup = "__brokerbench_mkstream__"

// createStreams makes sure every partition stream exists, so that producers
// can XADD with NOMKSTREAM: a send to a deleted topic then fails instead of
// silently re-creating a stream that a later CreateTopic would inherit.
// Redis has no "create empty stream" command; XGROUP CREATE ... MKSTREAM of
// a throwaway group followed by XGROUP DESTROY is the non-destructive way
// (an XADD trimmed to MAXLEN 0 would also empty an existing stream).
func (r *Redis) createStreams(ctx context.Context, topic string, partitions int) error {
	if err := r.createGroups(ctx, topic, partitions, mkstreamGroup, "$"); err != nil {
		return err
	}
	pipe := r.admin.Pipeline()
	for p := range partitions {
		pipe.XGroupDestroy(ctx, r.layout.stream(topic, p), mkstreamGroup)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("create streams: %w", err)
	}
	return nil
}

// createGroups creates group on every partition stream at startID ("0" or
// "$"), creating missing streams. Existing groups keep their position.
func (r *Redis) createGroups(ctx context.Context, topic string, partitions int, group, startID string) error {
	if group == "" {
		return errors.New("subscription name is empty")
	}
	pipe := r.admin.Pipeline()
	cmds := make([]*goredis.StatusCmd, partitions)
	for p := range cmds {
		cmds[p] = pipe.XGroupCreateMkStream(ctx, r.layout.stream(topic, p), group, startID)
	}
	_, _ = pipe.Exec(ctx) // errors are per command, checked below
	for p, cmd := range cmds {
		if err := cmd.Err(); err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
			return fmt.Errorf("create group %q on partition %d: %w", group, p, err)
		}
	}
	return nil
}

// DeleteTopic deletes the topic's streams (and with them its consumer groups),
// its dead-letter streams and its metadata, and forgets its local groups.
// A missing topic is not an error.
func (r *Redis) DeleteTopic(ctx context.Context, topic string) error {
	r.groups.Forget(topic)
	m, err := loadMeta(ctx, r.admin, topic)
	if errors.Is(err, adapters.ErrTopicNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete topic: %w", err)
	}
	// Keys are deleted one by one: a multi-key DEL is fine in one slot, but
	// one DEL per key keeps the command small for topics with many partitions.
	dlqs, err := r.admin.SMembers(ctx, dlqSetKey(topic)).Result()
	if err != nil {
		return fmt.Errorf("delete topic %q: list dead-letter streams: %w", topic, err)
	}
	pipe := r.admin.Pipeline()
	for _, k := range r.layout.streams(topic, m.partitions) {
		pipe.Del(ctx, k)
	}
	for _, sub := range dlqs {
		for _, k := range r.layout.dlqs(topic, sub, m.partitions) {
			pipe.Del(ctx, k)
		}
	}
	pipe.Del(ctx, dlqSetKey(topic))
	pipe.Del(ctx, metaKey(topic)) // last: a failed delete can be retried
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("delete topic %q: %w", topic, err)
	}
	return nil
}

// Lag returns per partition the entries not yet acknowledged by the
// subscription: XINFO GROUPS lag (entries not yet delivered to the group)
// plus pending (delivered but not acknowledged). Where Redis cannot compute
// lag (nil after XDEL or trimming past the group), it falls back to
// entries-added minus entries-read plus pending, or, before Redis 7, to the
// stream length; both are upper bounds. Partitions that could not be read
// are missing from the map and named in the returned error.
func (r *Redis) Lag(ctx context.Context, topic, subscription string) (map[int32]int64, error) {
	m, err := loadMeta(ctx, r.admin, topic)
	if err != nil {
		return nil, fmt.Errorf("lag: %w", err)
	}
	pipe := r.admin.Pipeline()
	cmds := make([]*goredis.XInfoGroupsCmd, m.partitions)
	for p := range cmds {
		cmds[p] = pipe.XInfoGroups(ctx, r.layout.stream(topic, p))
	}
	_, _ = pipe.Exec(ctx) // errors are per command, checked below
	lag := make(map[int32]int64, m.partitions)
	var errs []error
	for p, cmd := range cmds {
		n, err := r.partitionLag(ctx, r.layout.stream(topic, p), subscription, cmd)
		if err != nil {
			errs = append(errs, fmt.Errorf("lag of %q partition %d: %w", topic, p, err))
			continue
		}
		lag[int32(p)] = n
	}
	return lag, errors.Join(errs...)
}

func (r *Redis) partitionLag(ctx context.Context, key, group string, cmd *goredis.XInfoGroupsCmd) (int64, error) {
	groups, err := cmd.Result()
	if err != nil {
		return 0, err
	}
	for _, g := range groups {
		if g.Name != group {
			continue
		}
		if r.lagField && g.Lag >= 0 {
			return g.Lag + g.Pending, nil
		}
		st, err := r.admin.XInfoStream(ctx, key).Result()
		if err != nil {
			return 0, fmt.Errorf("fallback XINFO STREAM: %w", err)
		}
		if r.lagField && g.EntriesRead > 0 && st.EntriesAdded >= g.EntriesRead {
			return st.EntriesAdded - g.EntriesRead + g.Pending, nil
		}
		// Every undelivered or pending entry still in the stream is
		// counted, and so are acknowledged ones: an upper bound.
		return st.Length, nil
	}
	return 0, fmt.Errorf("group %q not found", group)
}

// offsetSeqBits is how many low bits of an offset hold the sequence part of
// a stream ID.
const offsetSeqBits = 20

// IDToOffset maps a stream ID "ms-seq" to ms<<20|seq, which grows with the ID
// and so is monotonic within a partition. It returns -1 when the ID does not
// fit: seq of 2^20 (1,048,576 entries in one millisecond of one stream) or
// more, ms of 2^43 (year 2248) or more, or a malformed ID.
func IDToOffset(id string) int64 {
	msS, seqS, ok := strings.Cut(id, "-")
	if !ok {
		return -1
	}
	ms, err1 := strconv.ParseUint(msS, 10, 64)
	seq, err2 := strconv.ParseUint(seqS, 10, 64)
	if err1 != nil || err2 != nil || seq >= 1<<offsetSeqBits || ms >= 1<<(63-offsetSeqBits) {
		return -1
	}
	return int64(ms<<offsetSeqBits | seq)
}

// OffsetToID is the inverse of [IDToOffset] for offsets >= 0.
func OffsetToID(off int64) string {
	return strconv.FormatInt(off>>offsetSeqBits, 10) + "-" + strconv.FormatInt(off&(1<<offsetSeqBits-1), 10)
}

// waitOrStop waits d unless stop closes first; it reports whether it waited
// the full time. Used for back-off after transient errors.
func waitOrStop(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}
