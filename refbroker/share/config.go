package share

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Defaults applied to a zero Config field. They are Kafka's broker
// defaults for share groups.
const (
	// DefaultLockDuration is group.share.record.lock.duration.ms.
	DefaultLockDuration = 30 * time.Second
	// DefaultDeliveryLimit is group.share.delivery.count.limit.
	DefaultDeliveryLimit = 5
	// DefaultSessionTimeout is group.share.session.timeout.ms.
	DefaultSessionTimeout = 45 * time.Second
	// DefaultHeartbeatInterval is group.share.heartbeat.interval.ms.
	DefaultHeartbeatInterval = 5 * time.Second
	// DefaultMaxRecordLocks is group.share.partition.max.record.locks:
	// the in-flight window of one share-partition, in records.
	DefaultMaxRecordLocks = 2000
	// DefaultMaxFetchRecords is the records one ShareFetch acquires when
	// the request's MaxRecords is 0 (v0 requests have no MaxRecords).
	DefaultMaxFetchRecords = 500
)

// Versions returns the API keys the coordinator serves with their
// [min, max] versions, for the broker's ApiVersions registry.
func Versions() map[int16][2]int16 {
	return map[int16][2]int16{
		int16(kmsg.ShareGroupHeartbeat): {0, 1},
		int16(kmsg.ShareGroupDescribe):  {0, 1},
		int16(kmsg.ShareFetch):          {0, 2},
		int16(kmsg.ShareAcknowledge):    {0, 2},
	}
}

// Topics resolves topics and partitions for the coordinator. The broker
// implements it over its topic table. Implementations must be safe for
// concurrent use; the coordinator calls them with its mutex held, so they
// must not call back into the coordinator.
type Topics interface {
	// TopicByName returns the topic's ID and partition count, or
	// ok=false if the topic does not exist.
	TopicByName(name string) (id [16]byte, partitions int32, ok bool)
	// TopicByID returns the topic's name and partition count, or
	// ok=false if no topic has this ID.
	TopicByID(id [16]byte) (name string, partitions int32, ok bool)
	// Bounds returns the partition's log start offset and high
	// watermark, or ok=false if it does not exist.
	Bounds(id [16]byte, partition int32) (start, hw int64, ok bool)
}

// Config configures a Coordinator. Build it with named fields; zero
// fields take the defaults above.
type Config struct {
	// Dir holds the share state log (share-state.log). "" keeps state in
	// memory only. Created if missing.
	Dir string
	// Fsync makes every state change fsync the log before the request
	// is answered (the broker passes true for its "always" fsync
	// policy). Without it state survives a process crash but not a
	// power loss.
	Fsync bool
	// Topics resolves topics and partitions. Required.
	Topics Topics
	// LockDuration is how long an acquired record stays locked to its
	// member before it returns to Available. Default DefaultLockDuration.
	// A group's share.record.lock.duration.ms overrides it.
	LockDuration time.Duration
	// DeliveryLimit is the number of deliveries after which a record
	// that is released or whose lock expires is archived instead of
	// made available again. Default DefaultDeliveryLimit. A group's
	// share.delivery.count.limit overrides it.
	DeliveryLimit int32
	// SessionTimeout removes a member that has not heartbeated for this
	// long and releases its records. Default DefaultSessionTimeout.
	SessionTimeout time.Duration
	// HeartbeatInterval is the interval returned to members. Default
	// DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// MaxRecordLocks bounds the in-flight window of a share-partition:
	// records at or beyond SPSO+MaxRecordLocks are not acquired until
	// the SPSO advances. Default DefaultMaxRecordLocks.
	MaxRecordLocks int32
	// Logger receives lifecycle and recovery events. nil = slog.Default().
	Logger *slog.Logger
	// Now is the clock. nil = time.Now. Tests may inject a fake clock.
	Now func() time.Time

	_ struct{}
}

// withDefaults fills unset fields and validates the result.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.LockDuration == 0 {
		cfg.LockDuration = DefaultLockDuration
	}
	if cfg.DeliveryLimit == 0 {
		cfg.DeliveryLimit = DefaultDeliveryLimit
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.MaxRecordLocks == 0 {
		cfg.MaxRecordLocks = DefaultMaxRecordLocks
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.Topics == nil:
		return cfg, fmt.Errorf("%w: Topics is required", ErrInvalidConfig)
	case cfg.LockDuration < time.Millisecond:
		return cfg, fmt.Errorf("%w: LockDuration %v below 1ms", ErrInvalidConfig, cfg.LockDuration)
	case cfg.DeliveryLimit < 1 || cfg.DeliveryLimit > maxDeliveryLimit:
		return cfg, fmt.Errorf("%w: DeliveryLimit %d outside [1, %d]", ErrInvalidConfig, cfg.DeliveryLimit, maxDeliveryLimit)
	case cfg.SessionTimeout < time.Millisecond:
		return cfg, fmt.Errorf("%w: SessionTimeout %v below 1ms", ErrInvalidConfig, cfg.SessionTimeout)
	case cfg.HeartbeatInterval < time.Millisecond:
		return cfg, fmt.Errorf("%w: HeartbeatInterval %v below 1ms", ErrInvalidConfig, cfg.HeartbeatInterval)
	case cfg.MaxRecordLocks < 1:
		return cfg, fmt.Errorf("%w: MaxRecordLocks %d below 1", ErrInvalidConfig, cfg.MaxRecordLocks)
	}
	return cfg, nil
}

// maxDeliveryLimit keeps delivery counts within the int16 the protocol
// carries them in.
const maxDeliveryLimit = 1 << 14

// ClientInfo identifies the client of a heartbeat, for ShareGroupDescribe.
type ClientInfo struct {
	ClientID string // the request header's client ID
	Host     string // the remote address
}
