package framelog

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/brokerbench/brokerbench/refbroker/internal/fsys"
)

const (
	// DefaultCompactMinBytes is the default Options.CompactMinBytes (16 MiB).
	DefaultCompactMinBytes = 16 << 20
	// DefaultCompactRatio is the default Options.CompactRatio.
	DefaultCompactRatio = 4
)

// Options configure a Log. The zero value is usable: no fsync, the default
// logger, the default compaction thresholds.
type Options struct {
	// Fsync makes Append fsync before returning (the broker's fsync
	// policy "always"). Without it an appended frame survives a process
	// crash but not a power loss. Compaction always fsyncs.
	Fsync bool
	// Logger receives the torn-tail warning and close failures of a file
	// replaced by compaction. Default slog.Default().
	Logger *slog.Logger
	// Name names the log in messages and errors, e.g. "offsets log".
	// Default "frame log".
	Name string
	// CompactMinBytes and CompactRatio decide when NeedsCompaction
	// reports true: once the log exceeds both CompactMinBytes and
	// CompactRatio times its size right after the last compaction.
	// Defaults DefaultCompactMinBytes and DefaultCompactRatio.
	CompactMinBytes int64
	CompactRatio    int64
}

// file is the part of *os.File a Log writes through; tests substitute one
// that fails on demand.
type file interface {
	Write(p []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Close() error
}

// Log is an open frame log. It is not safe for concurrent use: its owner
// serialises calls (both coordinators call it with their mutex held).
type Log struct {
	dir, path string
	opts      Options
	f         file
	size      int64 // bytes of valid frames in f
	baseSize  int64 // size right after the last compaction
	broken    error // set once the file can no longer be trusted
}

// Open recovers the log at path, creating its directory and the file as
// needed. It calls replay with the payload of each valid frame, in order
// (see Scan: a corrupt frame, or one replay returns an error for, is
// dropped with a warning and costs only itself; a torn tail is dropped). Open then rewrites the file compacted with the
// frames snapshot returns (called once, after the last replay) and opens
// it for appending.
func Open(path string, opts Options, replay func(payload []byte) error, snapshot func() []byte) (*Log, error) {
	opts = opts.withDefaults()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s dir: %w", opts.Name, err)
	}
	l := &Log{dir: dir, path: path, opts: opts}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	st := ScanStats(data, replay)
	if st.Skipped > 0 {
		opts.Logger.Warn(opts.Name+" has damaged frames; they are dropped, the frames around them kept",
			"path", path, "damaged_stretches", st.Damaged, "dropped_bytes", st.Skipped, "frames_kept", st.Frames)
	}
	if st.End < len(data) {
		opts.Logger.Warn(opts.Name+" has a torn tail; dropping it",
			"path", path, "valid_bytes", st.End, "dropped_bytes", len(data)-st.End, "frames", st.Frames)
	}
	if err := l.Compact(snapshot()); err != nil {
		return nil, err
	}
	return l, nil
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Name == "" {
		o.Name = "frame log"
	}
	if o.CompactMinBytes <= 0 {
		o.CompactMinBytes = DefaultCompactMinBytes
	}
	if o.CompactRatio <= 0 {
		o.CompactRatio = DefaultCompactRatio
	}
	return o
}

// Compact atomically replaces the log with frames (whole frames built with
// AppendFrame, typically a snapshot of the live state): temp file, fsync,
// rename, fsync of the directory. It leaves the log open for appending at
// the end of the new file. A failure before the rename leaves the old file
// in use and is transient; a failure after it breaks the log (ErrBroken),
// since the open file may then be the unlinked old one.
func (l *Log) Compact(frames []byte) error {
	if l.broken != nil {
		return l.broken
	}
	err := fsys.WriteFile(fsys.OS{}, l.path, frames, fsys.WriteOptions{})
	if err != nil && !errors.Is(err, fsys.ErrNotDurable) {
		return fmt.Errorf("compact %s: %w", l.opts.Name, err) // the old file is still in place
	}
	if l.f != nil {
		if err := l.f.Close(); err != nil {
			l.opts.Logger.Warn("close "+l.opts.Name+" replaced by compaction", "err", err)
		}
		l.f = nil
	}
	if err != nil {
		l.broken = fmt.Errorf("%w: compact %s: %v", ErrBroken, l.opts.Name, err)
		return l.broken
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		l.broken = fmt.Errorf("%w: open %s: %v", ErrBroken, l.path, err)
		return l.broken
	}
	l.f = f
	l.size = int64(len(frames))
	l.baseSize = l.size
	return nil
}

// Append writes frames (one or more whole frames built with AppendFrame)
// in one write, fsynced first when Options.Fsync is set. A failed write is
// rolled back by truncating to the previous end, so a later append never
// lands behind a half-written frame, and its error is returned: the caller
// may retry. If the rollback or an fsync fails, the log is broken and this
// and every later write return an error wrapping ErrBroken. Append does
// not keep frames.
func (l *Log) Append(frames []byte) error {
	if l.broken != nil {
		return l.broken
	}
	if l.f == nil {
		return fmt.Errorf("%w: %s is closed", ErrBroken, l.path)
	}
	if _, err := l.f.Write(frames); err != nil {
		return l.rollback(fmt.Errorf("append to %s: %w", l.path, err))
	}
	if l.opts.Fsync {
		if err := l.f.Sync(); err != nil {
			// After a failed fsync the page cache state is unknown
			// (the "fsyncgate" lesson): do not trust the file.
			l.broken = fmt.Errorf("%w: fsync %s: %v", ErrBroken, l.path, err)
			return l.broken
		}
	}
	l.size += int64(len(frames))
	return nil
}

func (l *Log) rollback(cause error) error {
	if err := l.f.Truncate(l.size); err != nil {
		l.broken = fmt.Errorf("%w: %v; truncate after failed append: %v", ErrBroken, cause, err)
		return l.broken
	}
	return cause
}

// NeedsCompaction reports whether the log has grown past both
// Options.CompactMinBytes and Options.CompactRatio times its size after the
// last compaction. A broken log never needs compaction.
func (l *Log) NeedsCompaction() bool {
	return l.broken == nil && l.size > l.opts.CompactMinBytes && l.size > l.opts.CompactRatio*l.baseSize
}

// SetCompactMinBytes changes Options.CompactMinBytes (n > 0) on an open
// log. Tests use it to make compaction happen on small logs.
func (l *Log) SetCompactMinBytes(n int64) {
	if n > 0 {
		l.opts.CompactMinBytes = n
	}
}

// Size returns the length in bytes of the valid frames in the file.
func (l *Log) Size() int64 { return l.size }

// Path returns the file's path.
func (l *Log) Path() string { return l.path }

// Close fsyncs and closes the file, so a clean shutdown keeps every frame
// even without Options.Fsync. Later writes fail; a second Close returns
// nil.
func (l *Log) Close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", l.path, err)
	}
	return nil
}
