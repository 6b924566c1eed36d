package refbroker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// Defaults applied by Config.Default.
const (
	// DefaultListen is the address the binary listens on; embedded brokers
	// usually pass "127.0.0.1:0" for an ephemeral port.
	DefaultListen = "127.0.0.1:9092"
	// DefaultMaxRequestBytes matches Kafka's socket.request.max.bytes
	// (100 MiB).
	DefaultMaxRequestBytes = 100 << 20
	// DefaultRetentionCheckInterval is how often retention is enforced
	// across all partition logs.
	DefaultRetentionCheckInterval = 30 * time.Second
	// DefaultMaxConnections is the default Config.MaxConnections.
	DefaultMaxConnections = 1000
	// DefaultIdleTimeout is the default Config.IdleTimeout, Kafka's
	// connections.max.idle.ms (10 minutes).
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultRequestReadTimeout is the default Config.RequestReadTimeout.
	DefaultRequestReadTimeout = 30 * time.Second
	// DefaultMaxFetchBytes is the default Config.MaxFetchBytes, Kafka's
	// fetch.max.bytes (55 MiB).
	DefaultMaxFetchBytes = 55 << 20
	// DefaultShutdownTimeout is the default Config.ShutdownTimeout.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultMaxPartitionsPerTopic is the default
	// Config.MaxPartitionsPerTopic.
	DefaultMaxPartitionsPerTopic = 10000
	// DefaultMaxCreateTopicsPerRequest is the default
	// Config.MaxCreateTopicsPerRequest.
	DefaultMaxCreateTopicsPerRequest = 1000
	// DefaultMaxCreatePartitionsPerRequest is the default
	// Config.MaxCreatePartitionsPerRequest: one topic of the default
	// maximum size fits.
	DefaultMaxCreatePartitionsPerRequest = DefaultMaxPartitionsPerTopic
	// DefaultPartitionCreationsPerMinute is the default
	// Config.PartitionCreationsPerMinute.
	DefaultPartitionCreationsPerMinute = 10000
)

// Config configures a Broker. Build it with a composite literal of named
// fields and call Default (Start does) to fill unset fields; Validate reports
// what is wrong. The zero value is not usable: DataDir is required.
type Config struct {
	// DataDir holds partition logs, committed group offsets and the
	// topic metadata file. Required; created if missing.
	DataDir string
	// Listen is the TCP address to bind, default DefaultListen. Use
	// "127.0.0.1:0" for an ephemeral port.
	Listen string
	// Advertise is the host:port written into Metadata and
	// FindCoordinator responses. Default: the bound address.
	Advertise string
	// DefaultPartitions is the partition count of auto-created topics and
	// of CreateTopics requests that pass -1. Default 1.
	DefaultPartitions int32
	// AutoCreateTopics controls creating unknown topics named in Metadata
	// requests. nil means on, as Kafka's auto.create.topics.enable
	// default; use BoolPtr(false) to turn it off.
	AutoCreateTopics *bool
	// Storage is the base configuration of every partition log; per-topic
	// configs (retention.ms, retention.bytes, segment.bytes,
	// max.message.bytes, flush.messages) override it.
	// Unset fields take storage's defaults (64 MiB segments, no
	// retention, FsyncInterval every second); a nil Storage.Logger takes
	// Logger.
	Storage storage.Config
	// MaxRequestBytes is the largest request frame accepted, in bytes;
	// a larger or negative size closes the connection. Default
	// DefaultMaxRequestBytes.
	MaxRequestBytes int32
	// MaxPartitionsPerTopic bounds the partitions of one topic, default
	// DefaultMaxPartitionsPerTopic. Each partition is a directory with
	// open, mapped and preallocated segment files, so an absurd count
	// from a client must not exhaust file descriptors or disk.
	MaxPartitionsPerTopic int32
	// MaxCreateTopicsPerRequest bounds the topics one CreateTopics
	// request, or one Metadata request auto-creating topics, may create;
	// the topics after that many are refused (POLICY_VIOLATION; in
	// Metadata LEADER_NOT_AVAILABLE, so the client asks again). Default
	// DefaultMaxCreateTopicsPerRequest.
	MaxCreateTopicsPerRequest int
	// MaxCreatePartitionsPerRequest bounds the partitions one
	// CreateTopics, CreatePartitions or auto-creating Metadata request
	// may create, counted topic by topic in request order; a topic that
	// would pass it is refused as above. Default
	// DefaultMaxCreatePartitionsPerRequest; at least DefaultPartitions.
	MaxCreatePartitionsPerRequest int32
	// PartitionCreationsPerMinute is the broker-wide rate at which
	// partitions may be created, by all clients together: Kafka's
	// controller mutation quota (KIP-599) counted in partitions, so it
	// bounds topics too. A token bucket holding at most a minute's worth
	// refills continuously; a topic (or partition increase) is admitted
	// while the bucket is not in debt and takes its partitions from it,
	// possibly into debt. Others are refused with
	// THROTTLING_QUOTA_EXCEEDED and the throttle time until the debt is
	// paid (CreateTopics v6+, CreatePartitions v3+; older versions get
	// POLICY_VIOLATION, Metadata auto-creation LEADER_NOT_AVAILABLE).
	// ValidateOnly requests take nothing. Default
	// DefaultPartitionCreationsPerMinute; -1 turns the limit off.
	PartitionCreationsPerMinute int
	// RetentionCheckInterval is how often retention is enforced, default
	// DefaultRetentionCheckInterval.
	RetentionCheckInterval time.Duration
	// GroupInitialRebalanceDelay is Kafka's
	// group.initial.rebalance.delay.ms, passed to the group coordinator.
	// Zero takes the coordinator's default.
	GroupInitialRebalanceDelay time.Duration
	// ShareLockDuration is how long a share-group record acquired by
	// ShareFetch stays locked to its consumer before it becomes
	// available again (Kafka group.share.record.lock.duration.ms). Zero
	// takes share.DefaultLockDuration (30s); a group's
	// share.record.lock.duration.ms config overrides it.
	ShareLockDuration time.Duration
	// ShareDeliveryLimit is the number of deliveries after which a
	// released or expired share-group record is archived (Kafka
	// group.share.delivery.count.limit). Zero takes
	// share.DefaultDeliveryLimit (5); a group's
	// share.delivery.count.limit config overrides it.
	ShareDeliveryLimit int32
	// Logger receives the broker's logs. Default slog.Default().
	Logger *slog.Logger
	// NodeID is this broker's node ID in Metadata. Default 0.
	NodeID int32
	// ClusterID is the cluster ID in Metadata and ApiVersions. Default:
	// the ID persisted in DataDir, or a random one generated (and
	// persisted) on first start. A non-empty value replaces the
	// persisted one.
	ClusterID string

	// MaxInFlightBytes bounds the request bytes one connection has read
	// and not yet handled; the broker stops reading from it until
	// earlier requests are done. One request is always read whatever its
	// size (up to MaxRequestBytes). Default MaxRequestBytes.
	MaxInFlightBytes int64
	// MaxFetchBytes caps the record bytes of one Fetch response whatever
	// the request's MaxBytes (Kafka fetch.max.bytes); as in Kafka, the
	// first batch is returned even when larger. Default DefaultMaxFetchBytes.
	MaxFetchBytes int32
	// MaxConnections bounds the open client connections; a connection
	// beyond it is closed at once, so idle connections cannot exhaust file
	// descriptors. Default DefaultMaxConnections.
	MaxConnections int
	// IdleTimeout closes a connection that sends no request for this
	// long, or that leaves a response unread for this long (a write that
	// has not finished within it). Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// RequestReadTimeout bounds the time from a request's size prefix to
	// its last byte, so a client sending one byte a second is dropped.
	// Default DefaultRequestReadTimeout.
	RequestReadTimeout time.Duration

	// ShutdownTimeout bounds how long Close waits for running requests
	// before giving up on them (see Close). Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// RebuildMetadata rebuilds the topic metadata file from the topic
	// directories (each names its topic in topic.json) instead of reading
	// it. Start refuses to start when the metadata file and its backup
	// are both missing or damaged while topic directories exist, and says
	// to use this; no data is deleted either way.
	RebuildMetadata bool

	// Security configures TLS, SASL and ACLs on the listener; the zero
	// value is PLAINTEXT without ACLs.
	Security Security

	// Intercept is a TEST-ONLY hook: when set, every decoded request goes
	// through it instead of straight to its handler (see Interceptor).
	// Tests use it to plant broker bugs (refbroker/refbrokertest) and to
	// make handlers fail. It is a function, so no flag, environment
	// variable or file can set it; the refbroker binary and brokerbench
	// never do, and Start logs a warning when it is set. nil (the
	// default) serves every request with its handler.
	Intercept Interceptor

	_ struct{}
}

// ServeFunc serves a decoded request of any served key and version with
// the broker's own handler, without interception. A nil response means no
// response is written (acks=0 produce); an error closes the connection.
type ServeFunc func(ctx context.Context, req kmsg.Request) (kmsg.Response, error)

// Interceptor is the single interception point at dispatch, modelled on
// kfake's ControlKey; it is for tests only (see Config.Intercept). It is
// called for every request after decoding, with serve to reach the
// broker's handlers: it may pass req on unchanged, change it first,
// rewrite the response serve returns, serve other requests (a ListOffsets
// to learn a high watermark), or answer without serving at all. Its
// result is what the client gets; an error closes the connection. It runs
// on the connection's goroutine, one request at a time per connection,
// and must be safe for concurrent use across connections. ctx is the
// connection's.
type Interceptor func(ctx context.Context, req kmsg.Request, serve ServeFunc) (kmsg.Response, error)

// BoolPtr returns a pointer to v, for Config.AutoCreateTopics.
func BoolPtr(v bool) *bool { return &v }

// Default returns a copy of c with every unset field filled with its
// default. It does not touch DataDir, NodeID or ClusterID.
func (c Config) Default() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = 1
	}
	if c.AutoCreateTopics == nil {
		c.AutoCreateTopics = BoolPtr(true)
	}
	if c.MaxPartitionsPerTopic == 0 {
		c.MaxPartitionsPerTopic = DefaultMaxPartitionsPerTopic
	}
	if c.MaxCreateTopicsPerRequest == 0 {
		c.MaxCreateTopicsPerRequest = DefaultMaxCreateTopicsPerRequest
	}
	if c.MaxCreatePartitionsPerRequest == 0 {
		c.MaxCreatePartitionsPerRequest = DefaultMaxCreatePartitionsPerRequest
	}
	if c.PartitionCreationsPerMinute == 0 {
		c.PartitionCreationsPerMinute = DefaultPartitionCreationsPerMinute
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MaxInFlightBytes == 0 {
		c.MaxInFlightBytes = int64(c.MaxRequestBytes)
	}
	if c.MaxFetchBytes == 0 {
		c.MaxFetchBytes = DefaultMaxFetchBytes
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.RequestReadTimeout == 0 {
		c.RequestReadTimeout = DefaultRequestReadTimeout
	}
	if c.Security.Protocol == "" {
		c.Security.Protocol = ProtocolPlaintext
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Storage.Logger == nil {
		c.Storage.Logger = c.Logger
	}
	c.Storage = c.Storage.Default()
	return c
}

// Validate reports the first invalid field, wrapping ErrInvalidConfig. Call
// it after Default: unset fields are invalid.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.DataDir == "":
		return bad("DataDir is required")
	case c.MaxPartitionsPerTopic < 1:
		return bad("MaxPartitionsPerTopic %d below 1", c.MaxPartitionsPerTopic)
	case c.DefaultPartitions < 1 || c.DefaultPartitions > c.MaxPartitionsPerTopic:
		return bad("DefaultPartitions %d outside [1, MaxPartitionsPerTopic=%d]", c.DefaultPartitions, c.MaxPartitionsPerTopic)
	case c.MaxCreateTopicsPerRequest < 1:
		return bad("MaxCreateTopicsPerRequest %d below 1", c.MaxCreateTopicsPerRequest)
	case c.MaxCreatePartitionsPerRequest < c.DefaultPartitions:
		return bad("MaxCreatePartitionsPerRequest %d below DefaultPartitions %d", c.MaxCreatePartitionsPerRequest, c.DefaultPartitions)
	case c.PartitionCreationsPerMinute < 1 && c.PartitionCreationsPerMinute != -1:
		return bad("PartitionCreationsPerMinute %d: want -1 (no limit) or 1 or more", c.PartitionCreationsPerMinute)
	case c.MaxRequestBytes < 1024:
		return bad("MaxRequestBytes %d below 1024", c.MaxRequestBytes)
	case c.MaxInFlightBytes < 1024:
		return bad("MaxInFlightBytes %d below 1024", c.MaxInFlightBytes)
	case c.MaxFetchBytes < 1024:
		return bad("MaxFetchBytes %d below 1024", c.MaxFetchBytes)
	case c.MaxConnections < 1:
		return bad("MaxConnections %d below 1", c.MaxConnections)
	case c.IdleTimeout <= 0 || c.RequestReadTimeout <= 0:
		return bad("IdleTimeout %v and RequestReadTimeout %v must be positive", c.IdleTimeout, c.RequestReadTimeout)
	case c.ShutdownTimeout <= 0:
		return bad("ShutdownTimeout %v must be positive", c.ShutdownTimeout)
	case c.RetentionCheckInterval <= 0:
		return bad("RetentionCheckInterval %v must be positive", c.RetentionCheckInterval)
	case c.GroupInitialRebalanceDelay < 0:
		return bad("GroupInitialRebalanceDelay %v is negative", c.GroupInitialRebalanceDelay)
	case c.ShareLockDuration < 0:
		return bad("ShareLockDuration %v is negative", c.ShareLockDuration)
	case c.ShareDeliveryLimit < 0:
		return bad("ShareDeliveryLimit %d is negative", c.ShareDeliveryLimit)
	case c.NodeID < 0:
		return bad("NodeID %d is negative", c.NodeID)
	case c.AutoCreateTopics == nil:
		return bad("AutoCreateTopics unset (call Default first)")
	case c.Logger == nil:
		return bad("Logger unset (call Default first)")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("Listen %q: %v", c.Listen, err)
	}
	if c.Advertise != "" {
		if _, err := splitHostPort(c.Advertise); err != nil {
			return bad("Advertise %q: %v", c.Advertise, err)
		}
	}
	if err := c.Security.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := c.Storage.Validate(); err != nil {
		return fmt.Errorf("%w: Storage: %w", ErrInvalidConfig, err)
	}
	return nil
}

// hostPort is an advertised address split for Metadata responses.
type hostPort struct {
	host string
	port int32
}

// splitHostPort splits "host:port" and requires a non-empty host and a port
// in 1..65535, because clients dial exactly what Metadata says.
func splitHostPort(addr string) (hostPort, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return hostPort{}, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return hostPort{}, fmt.Errorf("port %q is not in 1..65535", portStr)
	}
	if host == "" {
		return hostPort{}, fmt.Errorf("empty host")
	}
	return hostPort{host: host, port: int32(port)}, nil
}
