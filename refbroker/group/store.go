package group

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
)

const (
	offsetsFile = "offsets.log"
	// compactMinBytes and compactRatio decide when appending compacts:
	// once the log exceeds both compactMinBytes and compactRatio times its
	// size right after the last compaction. Recovery always compacts.
	compactMinBytes = 16 << 20
	compactRatio    = 4
)

// groupOffsets is the recovered, live state of one group's offsets.
type groupOffsets struct {
	protocolType string
	offsets      map[string]map[int32]committed
}

// store is the durable offsets log. It is not safe for concurrent use; the
// Coordinator calls it with its mutex held.
type store struct {
	dir      string
	path     string
	fsync    bool
	log      *slog.Logger
	f        *os.File
	size     int64 // bytes of valid frames in f
	baseSize int64 // size right after the last compaction
	broken   error // set when a failed append could not be rolled back
	buf      []byte
	// compactMin is the size below which the log is never compacted
	// while running (compactMinBytes; tests lower it).
	compactMin int64
}

// openStore recovers dir/offsets.log (dropping a torn tail), rewrites it
// compacted and opens it for appending. It returns the live offsets.
func openStore(dir string, fsync bool, log *slog.Logger) (*store, map[string]*groupOffsets, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create offsets dir: %w", err)
	}
	s := &store{dir: dir, path: filepath.Join(dir, offsetsFile), fsync: fsync, log: log, compactMin: compactMinBytes}
	data, err := os.ReadFile(s.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("read %s: %w", s.path, err)
	}
	recs, valid := decodeLog(data)
	if valid < len(data) {
		log.Warn("offsets log has a torn or corrupt tail; dropping it",
			"path", s.path, "valid_bytes", valid, "dropped_bytes", len(data)-valid, "records", len(recs))
	}
	live := make(map[string]*groupOffsets)
	for i := range recs {
		applyRecord(live, &recs[i])
	}
	if err := s.rewrite(live); err != nil {
		return nil, nil, err
	}
	return s, live, nil
}

// applyRecord replays one record onto live.
func applyRecord(live map[string]*groupOffsets, rec *record) {
	switch rec.kind {
	case kindCommit:
		g := live[rec.group]
		if g == nil {
			g = &groupOffsets{offsets: make(map[string]map[int32]committed)}
			live[rec.group] = g
		}
		g.protocolType = rec.protocolType
		for _, e := range rec.entries {
			setOffset(g.offsets, e.topic, e.partition, e.committed)
		}
	case kindDeleteGroup:
		delete(live, rec.group)
	case kindDeleteTopic:
		for _, g := range live {
			delete(g.offsets, rec.topic)
		}
	}
}

func setOffset(offsets map[string]map[int32]committed, topic string, partition int32, c committed) {
	ps := offsets[topic]
	if ps == nil {
		ps = make(map[int32]committed)
		offsets[topic] = ps
	}
	ps[partition] = c
}

// rewrite replaces the log with one commit record per group holding live,
// atomically: temp file, fsync, rename, fsync of the directory. It leaves
// s.f open for appending at the end of the new log.
func (s *store) rewrite(live map[string]*groupOffsets) error {
	var buf []byte
	ids := make([]string, 0, len(live))
	for id := range live {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		g := live[id]
		rec := record{kind: kindCommit, group: id, protocolType: g.protocolType}
		for topic, ps := range g.offsets {
			for p, c := range ps {
				rec.entries = append(rec.entries, offsetEntry{topic: topic, partition: p, committed: c})
			}
		}
		if len(rec.entries) > 0 {
			buf = appendFrame(buf, &rec)
		}
	}
	tmp := s.path + ".tmp"
	if err := writeFileSync(tmp, buf); err != nil {
		return fmt.Errorf("compact offsets log: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		// The old log is untouched and s.f still appends to it.
		return fmt.Errorf("compact offsets log: rename %s: %w", tmp, err)
	}
	// From here on s.f (if any) names the unlinked old log: appending
	// there would be lost, so any failure leaves the store broken.
	if s.f != nil {
		if err := s.f.Close(); err != nil {
			s.log.Warn("close offsets log replaced by compaction", "err", err)
		}
		s.f = nil
	}
	if err := syncDir(s.dir); err != nil {
		s.broken = fmt.Errorf("%w: compact offsets log: %v", ErrStoreBroken, err)
		return s.broken
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.broken = fmt.Errorf("%w: open %s: %v", ErrStoreBroken, s.path, err)
		return s.broken
	}
	s.f = f
	s.size = int64(len(buf))
	s.baseSize = s.size
	return nil
}

// append writes rec durably (fsync when configured). A failed write is
// rolled back by truncating to the previous end, so a later append never
// lands behind a half-written frame; if even that fails the store refuses
// further writes (ErrStoreBroken).
func (s *store) append(rec *record) error {
	if s.broken != nil {
		return s.broken
	}
	s.buf = appendFrame(s.buf[:0], rec)
	if _, err := s.f.Write(s.buf); err != nil {
		return s.rollback(fmt.Errorf("append to %s: %w", s.path, err))
	}
	if s.fsync {
		if err := s.f.Sync(); err != nil {
			// After a failed fsync the page cache state is unknown
			// (the "fsyncgate" lesson): do not trust the file.
			s.broken = fmt.Errorf("%w: fsync %s: %v", ErrStoreBroken, s.path, err)
			return s.broken
		}
	}
	s.size += int64(len(s.buf))
	return nil
}

func (s *store) rollback(cause error) error {
	if err := s.f.Truncate(s.size); err != nil {
		s.broken = fmt.Errorf("%w: %v; truncate: %v", ErrStoreBroken, cause, err)
		return s.broken
	}
	return cause
}

// needsCompaction reports whether the log has grown enough to rewrite.
func (s *store) needsCompaction() bool {
	return s.broken == nil && s.size > s.compactMin && s.size > compactRatio*s.baseSize
}

func (s *store) close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

// writeFileSync writes data to path and fsyncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory so a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
