package storage

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/brokerbench/brokerbench/refbroker/internal/fsys"
)

// Fsync is the durability policy for appended data.
type Fsync int

const (
	// FsyncInterval (the default) flushes dirty data from a background
	// goroutine every Config.FsyncInterval, and a sealed segment as soon as
	// it rolls, then advances the recovery point; appends never wait for
	// the disk. A crash (power loss) loses about one interval, more if the
	// disk falls behind the appends.
	FsyncInterval Fsync = iota
	// FsyncNever leaves flushing to the operating system; data is synced only
	// on Sync, segment roll is not synced, and Close syncs everything.
	// A process crash loses nothing, a power loss can lose anything unsynced.
	FsyncNever
	// FsyncAlways makes Append msync the bytes it wrote (and, in a new
	// segment, the directory entry) before returning.
	FsyncAlways
)

// ParseFsync parses "never", "interval" or "always" (as printed by String).
func ParseFsync(s string) (Fsync, error) {
	switch s {
	case "interval":
		return FsyncInterval, nil
	case "never":
		return FsyncNever, nil
	case "always":
		return FsyncAlways, nil
	}
	return 0, fmt.Errorf("parse fsync policy %q: want one of never, interval, always", s)
}

// String returns the name ParseFsync accepts.
func (f Fsync) String() string {
	switch f {
	case FsyncInterval:
		return "interval"
	case FsyncNever:
		return "never"
	case FsyncAlways:
		return "always"
	}
	return fmt.Sprintf("Fsync(%d)", int(f))
}

// Defaults and limits for Config.
const (
	// DefaultSegmentBytes is the default Config.SegmentBytes (64 MiB).
	DefaultSegmentBytes = 64 << 20
	// DefaultIndexIntervalBytes is the default Config.IndexIntervalBytes.
	DefaultIndexIntervalBytes = 4096
	// DefaultFsyncInterval is the default Config.FsyncInterval.
	DefaultFsyncInterval = time.Second
	// MinSegmentBytes is the smallest accepted Config.SegmentBytes.
	MinSegmentBytes = 1024
	// DefaultMaxMessageBytes is the default Config.MaxMessageBytes,
	// Kafka's max.message.bytes default (1 MiB + 12).
	DefaultMaxMessageBytes = 1048588
	// MaxSegmentBytes is the largest accepted Config.SegmentBytes; file
	// positions are stored as uint32 in the index, as in Kafka.
	MaxSegmentBytes = math.MaxInt32
)

// Config configures a Log. Zero values take the documented defaults (see
// Default); build it with field names (the blank field forbids positional
// literals).
type Config struct {
	// SegmentBytes is the roll threshold of segment files, in bytes; the
	// active segment's preallocation grows from 1 MiB up to it. Default 64 MiB, range [MinSegmentBytes,
	// MaxSegmentBytes]. A single batch bigger than this gets a segment sized
	// to fit it.
	SegmentBytes int64
	// MaxMessageBytes is the largest record batch Append accepts, in
	// bytes as sent (compressed), as Kafka's max.message.bytes; a larger
	// one is ErrMessageTooLarge. Default DefaultMaxMessageBytes, range
	// [MinSegmentBytes, MaxSegmentBytes].
	MaxMessageBytes int64
	// IndexIntervalBytes is the approximate number of batch bytes between
	// two sparse index entries. Default 4096. Smaller means faster lookups
	// and more memory (16 bytes per entry).
	IndexIntervalBytes int
	// RetentionBytes bounds the partition size in bytes; <= 0 is unlimited.
	// EnforceRetention deletes whole oldest segments while the partition
	// exceeds it, never the active segment.
	RetentionBytes int64
	// Retention bounds record age; <= 0 is unlimited. EnforceRetention
	// deletes whole oldest segments whose newest timestamp (the largest
	// batch maxTimestamp, milliseconds) is older than now-Retention.
	Retention time.Duration
	// Fsync is the durability policy; default FsyncInterval.
	Fsync Fsync
	// FsyncInterval is the background flush period for FsyncInterval and the
	// recovery-point checkpoint period for FsyncAlways. Default 1s.
	FsyncInterval time.Duration
	// Logger receives recovery and background-flush messages; nil means
	// slog.Default().
	Logger *slog.Logger
	// OnLeak, if set, is called with the stack of the Read that returned
	// a ReadResult when that result becomes unreachable without Release:
	// an unreleased result pins its segment's mapping and file for good.
	// Tests set it (refbroker/internal/leakcheck) so that a leak fails
	// them; it costs a stack capture per Read, so leave it nil otherwise.
	// It may be called from any goroutine.
	OnLeak func(stack []byte)
	// FS is the storage crash seam (refbroker/internal/fsys): every
	// fsync, msync, directory sync, rename and file creation goes
	// through it. nil, the only value outside refbroker's own tests,
	// is the real operating system; tests set an fsys.Recorder to fail
	// operations and to check what a power loss would leave.
	FS fsys.FS
	_  struct{}
}

// Default returns c with zero fields replaced by their defaults.
func (c Config) Default() Config {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.IndexIntervalBytes == 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.FsyncInterval == 0 {
		c.FsyncInterval = DefaultFsyncInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first invalid field of c after defaults are applied.
func (c Config) Validate() error {
	c = c.Default()
	if c.SegmentBytes < MinSegmentBytes || c.SegmentBytes > MaxSegmentBytes {
		return fmt.Errorf("storage config: SegmentBytes %d outside [%d, %d]", c.SegmentBytes, MinSegmentBytes, int64(MaxSegmentBytes))
	}
	if c.MaxMessageBytes < MinSegmentBytes || c.MaxMessageBytes > MaxSegmentBytes {
		return fmt.Errorf("storage config: MaxMessageBytes %d outside [%d, %d]", c.MaxMessageBytes, MinSegmentBytes, int64(MaxSegmentBytes))
	}
	if c.IndexIntervalBytes < 0 {
		return fmt.Errorf("storage config: IndexIntervalBytes %d is negative", c.IndexIntervalBytes)
	}
	if c.Fsync < FsyncInterval || c.Fsync > FsyncAlways {
		return fmt.Errorf("storage config: unknown Fsync policy %d", int(c.Fsync))
	}
	if c.FsyncInterval < 0 {
		return fmt.Errorf("storage config: FsyncInterval %v is negative", c.FsyncInterval)
	}
	return nil
}
