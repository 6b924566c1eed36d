package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/brokerbench/brokerbench/refbroker/internal/fsys"
)

const (
	segmentSuffix = ".log"
	deletedSuffix = ".deleted"
	// segmentNameDigits is the zero-padded width of a segment's base offset
	// in its file name, as in Kafka (00000000000000000000.log).
	segmentNameDigits = 20
)

// segmentName returns the file name of the segment whose first offset is base.
func segmentName(base int64) string {
	return fmt.Sprintf("%0*d%s", segmentNameDigits, base, segmentSuffix)
}

// parseSegmentName returns the base offset encoded in a segment file name.
func parseSegmentName(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != segmentNameDigits {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || base < 0 {
		return 0, false
	}
	return base, true
}

// mapping is one mmap of a segment file with a reference count: one
// reference for the segment that currently serves it, plus one per
// ReadResult aliasing it. The last release unmaps it, so a reader's Data
// stays valid across roll (remap), retention and Close.
type mapping struct {
	data []byte
	refs atomic.Int32
	log  *slog.Logger
}

func newMapping(data []byte, log *slog.Logger) *mapping {
	m := &mapping{data: data, log: log}
	m.refs.Store(1)
	return m
}

func (m *mapping) acquire() { m.refs.Add(1) }

func (m *mapping) release() {
	if m.refs.Add(-1) == 0 {
		if err := munmap(m.data); err != nil {
			m.log.Error("storage: munmap segment", "err", err)
		}
		m.data = nil
	}
}

// segment is one segment file of a Log. Fields without a comment are
// guarded by Log.mu; the lifecycle fields by lifeMu, a leaf lock.
type segment struct {
	base     int64 // offset of the first batch; immutable
	f        *os.File
	m        *mapping // current mapping: RW at capacity if active, RO at size if sealed
	capacity int64    // bytes mapped and preallocated; appends must fit
	size     int64    // logical bytes: batches end here
	flushed  int64    // bytes known durable (msync/fdatasync done)
	next     int64    // offset after the last batch (base when empty)
	maxTs    int64    // largest batch maxTimestamp; math.MinInt64 when empty
	index    sparseIndex
	indexed  bool // an index file matching the current contents exists
	// durableEntry is true once the file's directory entry is known to be
	// durable (the directory was synced after the file was created); until
	// then the recovery point must not reach into the segment.
	durableEntry bool
	fs           fsys.FS // the Log's
	log          *slog.Logger
	check        readCheck // read-side verification (readcheck.go)

	// refs counts the owning Log plus readers; the last release closes the
	// file and, when doomed, removes it.
	refs      atomic.Int32
	lifeMu    sync.Mutex
	path      string // current file path (renamed when doomed)
	closed    bool
	doomed    bool
	removeDir string // removed (if empty) after a doomed file, for Log.Delete
}

func newSegment(path string, base int64, f *os.File, interval int64, fs fsys.FS, log *slog.Logger) *segment {
	s := &segment{base: base, f: f, path: path, next: base, maxTs: math.MinInt64, fs: fs, log: log}
	s.check.badAt = -1
	s.index.interval = interval
	s.refs.Store(1)
	return s
}

// createSegment creates (or truncates) the segment file for base in the
// log's directory, preallocates capacity bytes and maps it read-write.
func (l *Log) createSegment(base, capacity int64) (*segment, error) {
	path := filepath.Join(l.dir, segmentName(base))
	f, err := l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", path, err)
	}
	s := newSegment(path, base, f, int64(l.cfg.IndexIntervalBytes), l.fs, l.log)
	if err := s.mapActive(capacity); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	s.markVerified() // everything in it will have passed Append's checks
	return s, nil
}

// mapActive (re)sizes the file to capacity, zeroing everything past the
// logical size, and maps it read-write. Called with no readers on the old
// mapping's tail: readers only touch [0, size).
func (s *segment) mapActive(capacity int64) error {
	if err := s.f.Truncate(s.size); err != nil {
		return fmt.Errorf("segment %s: truncate to %d: %w", s.path, s.size, err)
	}
	if err := preallocate(s.f, capacity); err != nil {
		return fmt.Errorf("segment %s: %w", s.path, err)
	}
	data, err := mmapFile(s.f, capacity, true)
	if err != nil {
		return fmt.Errorf("segment %s: %w", s.path, err)
	}
	s.swapMapping(newMapping(data, s.log))
	s.capacity = capacity
	return nil
}

// swapMapping installs m as the current mapping and drops the segment's
// reference on the previous one (readers may keep it alive).
func (s *segment) swapMapping(m *mapping) {
	old := s.m
	s.m = m
	if old != nil {
		old.release()
	}
}

// seal makes s a read-only, trimmed segment: optionally syncs its unsynced
// bytes, truncates the file to the logical size and remaps it at that size
// so no mapping of it reaches past the end of the file. A failed trim or
// remap is logged and leaves the old (still valid) mapping in place.
func (s *segment) seal(sync bool) error {
	if sync {
		if err := s.sync(); err != nil {
			return err
		}
	}
	if err := s.f.Truncate(s.size); err != nil {
		s.log.Warn("storage: trim sealed segment", "path", s.path, "err", err)
		return nil
	}
	data, err := mmapFile(s.f, s.size, false)
	if err != nil {
		s.log.Warn("storage: remap sealed segment", "path", s.path, "err", err)
		return nil
	}
	s.swapMapping(newMapping(data, s.log))
	s.capacity = s.size
	return nil
}

// sync makes [flushed, size) durable.
func (s *segment) sync() error {
	if s.flushed >= s.size {
		return nil
	}
	if err := s.fs.SyncRange(s.f, s.m.data, s.flushed, s.size); err != nil {
		return fmt.Errorf("sync segment %s: %w", s.path, err)
	}
	s.flushed = s.size
	return nil
}

// acquire takes a reader reference on s and its current mapping. Caller
// holds Log.mu (read or write), so the owner reference cannot be dropped
// concurrently.
func (s *segment) acquire() *mapping {
	s.refs.Add(1)
	m := s.m
	m.acquire()
	return m
}

// drop releases the owning Log's references. Caller holds Log.mu.
func (s *segment) drop() {
	if s.m != nil {
		s.m.release()
		s.m = nil
	}
	s.release()
}

// release drops one segment reference; the last closes the file and
// removes it when doomed.
func (s *segment) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.closed = true
	if err := s.f.Close(); err != nil {
		s.log.Warn("storage: close segment", "path", s.path, "err", err)
	}
	if s.doomed {
		s.removeFiles()
	}
}

// doom marks s for deletion: the file is renamed to *.deleted at once (so a
// reopen never sees it as part of the log) and removed when the last
// reference is released, which may be now. removeDir, when set, is removed
// afterwards if it is empty.
func (s *segment) doom(removeDir string) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.doomed {
		return nil
	}
	s.doomed, s.removeDir = true, removeDir
	if !strings.HasSuffix(s.path, deletedSuffix) {
		newPath := s.path + deletedSuffix
		if err := os.Rename(s.path, newPath); err != nil {
			return fmt.Errorf("rename segment %s for deletion: %w", s.path, err)
		}
		s.path = newPath
	}
	if s.closed {
		s.removeFiles()
	}
	return nil
}

// removeFiles removes a doomed segment's file; caller holds lifeMu.
func (s *segment) removeFiles() {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("storage: remove deleted segment", "path", s.path, "err", err)
	}
	if s.removeDir != "" {
		// Fails with ENOTEMPTY while other held segments remain; the last
		// one to go removes the directory.
		_ = os.Remove(s.removeDir)
	}
}

// seekOffset returns the position of the batch containing offset, which
// must lie in [base, next). It floors in the sparse index and hops headers.
// A damaged header stops the hop at its position, where Read reports it.
func (s *segment) seekOffset(offset int64) int64 {
	pos := s.index.floorOffset(uint32(offset - s.base))
	for pos < s.size {
		h, err := s.batchAt(pos)
		if err != nil || h.LastOffset() >= offset {
			return pos
		}
		pos += h.Size()
	}
	return s.size
}

// seekTime returns the first batch in s whose maxTimestamp >= ts.
func (s *segment) seekTime(ts int64) (offset, timestamp int64, ok bool) {
	pos, _ := s.index.floorTime(ts)
	for pos < s.size {
		h, err := s.batchAt(pos)
		if err != nil {
			return 0, 0, false // damaged: Read reports it
		}
		if h.MaxTimestamp >= ts {
			// Kafka answers the record, not the batch: the first
			// record at or after ts. A batch that cannot be decoded
			// (only possible for damaged data) answers its base.
			r, ok, err := RecordAtTime(s.m.data[pos:pos+h.Size()], ts)
			if err != nil || !ok {
				s.log.Warn("storage: time lookup could not decode a batch; answering its base offset",
					"segment", s.path, "position", pos, "err", err)
				return h.BaseOffset, h.MaxTimestamp, true
			}
			return r.Offset, r.Timestamp, true
		}
		pos += h.Size()
	}
	return 0, 0, false
}

// appendHeader records a batch written at s.size in the index and the
// segment's offset/time bounds, then advances size.
func (s *segment) appendHeader(h *BatchHeader) {
	s.index.add(uint32(h.BaseOffset-s.base), s.size, s.maxTs)
	s.size += h.Size()
	s.next = h.LastOffset() + 1
	s.maxTs = max(s.maxTs, h.MaxTimestamp)
}
