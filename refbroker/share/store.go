package share

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

const (
	stateFile = "share-state.log"
	// compactMinBytes and compactRatio decide when an append compacts
	// the log: once it exceeds both compactMinBytes and compactRatio
	// times its size right after the last compaction. Opening always
	// compacts.
	compactMinBytes = 16 << 20
	compactRatio    = 4
)

// loaded is the state recovered from the log.
type loaded struct {
	configs map[string]map[string]string // group -> configs
	parts   map[string]map[tp]*partState // group -> partitions
}

// apply replays one frame.
func (l *loaded) apply(f *frame) {
	switch f.kind {
	case kindConfig:
		l.configs[f.group] = f.configs
	case kindPartition:
		g := l.parts[f.group]
		if g == nil {
			g = make(map[tp]*partState)
			l.parts[f.group] = g
		}
		p := g[f.tp]
		if p == nil {
			p = newPartState(f.spso)
			g[f.tp] = p
		}
		for _, e := range f.entries {
			p.recs[e.off] = recState{state: e.state, count: e.count}
		}
		p.spso = f.spso
		for off, r := range p.recs {
			if off < p.spso || (r.state == StateAvailable && r.count == 0) {
				delete(p.recs, off)
			}
		}
	}
}

// store is the durable share state log. It is not safe for concurrent
// use; the Coordinator calls it with its mutex held. A nil *store (no
// Dir) accepts every write and keeps nothing.
type store struct {
	dir, path string
	fsync     bool
	log       *slog.Logger
	f         *os.File
	size      int64 // bytes of valid frames in f
	baseSize  int64 // size right after the last compaction
	broken    error // set when a failed append could not be rolled back
	buf       []byte
}

// openStore recovers dir/share-state.log (dropping a torn tail), rewrites
// it compacted and opens it for appending.
func openStore(dir string, fsync bool, log *slog.Logger) (*store, *loaded, error) {
	st := &loaded{configs: make(map[string]map[string]string), parts: make(map[string]map[tp]*partState)}
	if dir == "" {
		return nil, st, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create share state dir: %w", err)
	}
	s := &store{dir: dir, path: filepath.Join(dir, stateFile), fsync: fsync, log: log}
	data, err := os.ReadFile(s.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("read %s: %w", s.path, err)
	}
	frames, valid := decodeLog(data)
	if valid < len(data) {
		log.Warn("share state log has a torn or corrupt tail; dropping it",
			"path", s.path, "valid_bytes", valid, "dropped_bytes", len(data)-valid, "frames", len(frames))
	}
	for i := range frames {
		st.apply(&frames[i])
	}
	if err := s.rewrite(snapshotFrames(st.configs, st.parts)); err != nil {
		return nil, nil, err
	}
	return s, st, nil
}

// snapshotFrames encodes the full state: one config frame per group with
// configs and one partition frame per share-partition.
func snapshotFrames(configs map[string]map[string]string, parts map[string]map[tp]*partState) []byte {
	var buf []byte
	for g, cfg := range configs {
		if len(cfg) > 0 {
			buf = appendFrame(buf, &frame{kind: kindConfig, group: g, configs: cfg})
		}
	}
	for g, ps := range parts {
		for key, p := range ps {
			f := frame{kind: kindPartition, group: g, tp: key, spso: p.spso}
			for off, r := range p.recs {
				if r.persisted() != StateAvailable || r.count > 0 {
					f.entries = append(f.entries, persistEntry{off: off, state: r.persisted(), count: r.count})
				}
			}
			buf = appendFrame(buf, &f)
		}
	}
	return buf
}

// rewrite atomically replaces the log with buf (temp file, fsync,
// rename, fsync of the directory) and reopens it for appending.
func (s *store) rewrite(buf []byte) error {
	tmp := s.path + ".tmp"
	if err := writeFileSync(tmp, buf); err != nil {
		return fmt.Errorf("compact share state log: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("compact share state log: rename %s: %w", tmp, err)
	}
	// s.f now names the unlinked old log: appending there would be lost,
	// so any failure from here on leaves the store broken.
	if s.f != nil {
		if err := s.f.Close(); err != nil {
			s.log.Warn("close share state log replaced by compaction", "err", err)
		}
		s.f = nil
	}
	if err := syncDir(s.dir); err != nil {
		s.broken = fmt.Errorf("%w: compact: %v", ErrStoreBroken, err)
		return s.broken
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.broken = fmt.Errorf("%w: open %s: %v", ErrStoreBroken, s.path, err)
		return s.broken
	}
	s.f, s.size, s.baseSize = f, int64(len(buf)), int64(len(buf))
	return nil
}

// append writes frames durably (per the fsync setting). On a failed
// write it truncates back to the last valid frame; if even that fails the
// store is broken and refuses further writes.
func (s *store) append(frames []frame) error {
	if s == nil {
		return nil
	}
	if s.broken != nil {
		return s.broken
	}
	s.buf = s.buf[:0]
	for i := range frames {
		s.buf = appendFrame(s.buf, &frames[i])
	}
	if _, err := s.f.Write(s.buf); err != nil {
		return s.rollback(fmt.Errorf("append to %s: %w", s.path, err))
	}
	if s.fsync {
		if err := s.f.Sync(); err != nil {
			return s.rollback(fmt.Errorf("fsync %s: %w", s.path, err))
		}
	}
	s.size += int64(len(s.buf))
	return nil
}

// rollback truncates a partial append away.
func (s *store) rollback(cause error) error {
	if err := s.f.Truncate(s.size); err != nil {
		s.broken = fmt.Errorf("%w: %v (truncate after failed append: %v)", ErrStoreBroken, cause, err)
		return s.broken
	}
	return cause
}

// needsCompact reports whether the log has grown enough to be rewritten.
func (s *store) needsCompact() bool {
	return s != nil && s.broken == nil && s.size > compactMinBytes && s.size > compactRatio*s.baseSize
}

// close syncs and closes the file.
func (s *store) close() error {
	if s == nil || s.f == nil {
		return nil
	}
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

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
