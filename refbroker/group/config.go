package group

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka API keys answered by the coordinator.
const (
	keyOffsetCommit   = int16(kmsg.OffsetCommit)
	keyOffsetFetch    = int16(kmsg.OffsetFetch)
	keyJoinGroup      = int16(kmsg.JoinGroup)
	keyHeartbeat      = int16(kmsg.Heartbeat)
	keyLeaveGroup     = int16(kmsg.LeaveGroup)
	keySyncGroup      = int16(kmsg.SyncGroup)
	keyDescribeGroups = int16(kmsg.DescribeGroups)
	keyListGroups     = int16(kmsg.ListGroups)
	keyDeleteGroups   = int16(kmsg.DeleteGroups)
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultMinSessionTimeout is Kafka's group.min.session.timeout.ms.
	DefaultMinSessionTimeout = 6 * time.Second
	// DefaultMaxSessionTimeout is Kafka's group.max.session.timeout.ms.
	DefaultMaxSessionTimeout = 30 * time.Minute
	// DefaultMaxMetadataBytes is Kafka's offset.metadata.max.bytes.
	DefaultMaxMetadataBytes = 4096
)

// Config configures a Coordinator. The zero value is valid: memory-only
// offsets, no initial rebalance delay, Kafka's session-timeout bounds.
type Config struct {
	// Dir is the directory holding the committed-offsets log
	// (offsets.log). Offsets written there survive a restart. "" keeps
	// offsets in memory only. The directory is created if missing.
	Dir string

	// Fsync makes every offset commit fsync the log before it is
	// acknowledged. The broker passes true when its fsync policy is
	// "always". Without it a commit survives a process crash but not a
	// power loss.
	Fsync bool

	// InitialRebalanceDelay is Kafka's group.initial.rebalance.delay.ms:
	// when a rebalance starts in an Empty group, the coordinator waits
	// this long (extended by the same delay, up to the rebalance timeout,
	// while new members keep arriving) before completing the join. Kafka
	// defaults to 3s; the default here is 0 because benchmarks start their
	// consumers together and measure rebalance pauses, and a fixed 3s
	// would dominate that measurement. Negative values are invalid.
	InitialRebalanceDelay time.Duration

	// MinSessionTimeout is the smallest session timeout a JoinGroup may
	// ask for (Kafka group.min.session.timeout.ms); smaller requests get
	// INVALID_SESSION_TIMEOUT. Default 6s.
	MinSessionTimeout time.Duration

	// MaxSessionTimeout is the largest session timeout a JoinGroup may ask
	// for (Kafka group.max.session.timeout.ms). Default 30m.
	MaxSessionTimeout time.Duration

	// MaxMetadataBytes bounds the metadata string of one committed offset
	// (Kafka offset.metadata.max.bytes); longer metadata gets
	// OFFSET_METADATA_TOO_LARGE. Default 4096.
	MaxMetadataBytes int

	// PartitionExists reports whether a topic partition exists; commits
	// to one that does not get UNKNOWN_TOPIC_OR_PARTITION, as in Kafka.
	// nil accepts every partition. It is called with the coordinator's
	// lock held, so it must not call back into the coordinator.
	PartitionExists func(topic string, partition int32) bool

	// Logger receives rebalance and recovery events. nil = slog.Default().
	// It must be safe for concurrent use (every slog.Logger is).
	Logger *slog.Logger

	// Now is the clock. nil = time.Now. Tests may inject a fake clock; the
	// coordinator only ever compares times returned by Now, so a fake
	// clock that never moves simply means no timeout ever fires.
	Now func() time.Time

	_ struct{}
}

// withDefaults returns cfg with zero fields defaulted, or an error wrapping
// ErrInvalidConfig.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.MinSessionTimeout == 0 {
		cfg.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if cfg.MaxSessionTimeout == 0 {
		cfg.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if cfg.MaxMetadataBytes == 0 {
		cfg.MaxMetadataBytes = DefaultMaxMetadataBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.InitialRebalanceDelay < 0:
		return cfg, fmt.Errorf("%w: InitialRebalanceDelay %v is negative", ErrInvalidConfig, cfg.InitialRebalanceDelay)
	case cfg.MinSessionTimeout < 0:
		return cfg, fmt.Errorf("%w: MinSessionTimeout %v is negative", ErrInvalidConfig, cfg.MinSessionTimeout)
	case cfg.MaxSessionTimeout < cfg.MinSessionTimeout:
		return cfg, fmt.Errorf("%w: MaxSessionTimeout %v is below MinSessionTimeout %v", ErrInvalidConfig, cfg.MaxSessionTimeout, cfg.MinSessionTimeout)
	case cfg.MaxMetadataBytes < 0:
		return cfg, fmt.Errorf("%w: MaxMetadataBytes %d is negative", ErrInvalidConfig, cfg.MaxMetadataBytes)
	}
	return cfg, nil
}

// Versions returns the request version range [min, max] the coordinator
// handles for each API key it answers. The protocol server advertises
// exactly these ranges in ApiVersions.
//
// OffsetCommit and OffsetFetch stop at v9: v10 replaces topic names with
// topic IDs, and the coordinator keeps offsets by name. kgo pins itself to
// v9 when the broker advertises no more, so nothing is lost for our client.
func Versions() map[int16][2]int16 {
	return map[int16][2]int16{
		keyOffsetCommit:   {0, 9},
		keyOffsetFetch:    {0, 9},
		keyJoinGroup:      {0, 9},
		keyHeartbeat:      {0, 4},
		keyLeaveGroup:     {0, 5},
		keySyncGroup:      {0, 5},
		keyDescribeGroups: {0, 6},
		keyListGroups:     {0, 5},
		keyDeleteGroups:   {0, 3},
	}
}

// ClientInfo identifies the connection a request came from. It only feeds
// member ids and DescribeGroups output, so it is optional.
type ClientInfo struct {
	// ClientID is the client.id from the request header; it prefixes
	// generated member ids, as in Kafka.
	ClientID string
	// Host is the client's remote address as DescribeGroups reports it,
	// for example "/127.0.0.1" or "127.0.0.1:53211".
	Host string
}

type clientInfoKey struct{}

// WithClientInfo returns a context carrying the client's identity. The
// protocol server should wrap the per-request context with it before calling
// JoinGroup; without it members get an empty client id and host.
func WithClientInfo(ctx context.Context, ci ClientInfo) context.Context {
	return context.WithValue(ctx, clientInfoKey{}, ci)
}

func clientInfoFrom(ctx context.Context) ClientInfo {
	ci, _ := ctx.Value(clientInfoKey{}).(ClientInfo)
	return ci
}
