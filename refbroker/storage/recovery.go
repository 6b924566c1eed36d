package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/brokerbench/brokerbench/refbroker/internal/fsys"
)

// Open opens (creating if missing) the partition log in dir.
//
// With the clean-shutdown marker present it opens fast: sparse indexes come
// from the index files and producer state from the snapshot Close wrote, so
// no batch is read beyond a few headers per segment used to cross-check the
// index files. Without the marker (a crash) it recovers: segments wholly
// before the recovery point load the same way, the rest are scanned, every
// batch after the recovery point fully validated (length, magic, CRC-32C,
// contiguous offsets), and a segment is truncated at its first torn or
// corrupt batch; later segments are kept (see scanSegments). Whenever an
// index file or snapshot is
// missing or does not match, Open hops batch headers instead (no CRC).
// In both modes a structurally impossible header (or one that runs past the
// end of the file) truncates the log there, so Open never fails on a damaged
// tail; it fails only on I/O errors and an invalid cfg.
//
// The caller must not open the same dir twice concurrently.
func Open(dir string, cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	cfg = cfg.Default()
	files := fsys.Or(cfg.FS)
	// Durably: a crash must not lose a new partition directory, and
	// with it appends that FsyncAlways acknowledged.
	if err := fsys.MkdirAll(files, dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l := &Log{dir: dir, cfg: cfg, log: cfg.Logger.With("dir", dir), fs: files, producers: newProducerState()}
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.drop()
		}
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l.publish()
	l.startFlusher()
	l.log.Debug("storage: opened log", "clean", l.opened.clean, "segments_from_index", l.opened.fromIndex,
		"segments_scanned", l.opened.scanned, "start", l.StartOffset(), "high_watermark", l.HighWatermark())
	return l, nil
}

// load discovers, scans and repairs the segments and leaves l ready to append.
func (l *Log) load() error {
	clean, err := hasCleanMarker(l.dir)
	if err != nil {
		return err
	}
	l.opened.clean = clean
	// Remove the marker before anything is modified: from here on a crash
	// must trigger recovery.
	if err := removeCleanMarker(l.fs, l.dir); err != nil {
		return err
	}
	rp, haveRP, err := readRecoveryPoint(l.dir)
	if err != nil {
		l.log.Warn("storage: ignoring recovery point, validating the whole log", "err", err)
	}
	// The checkpoint on disk is the last one written: snapshot pruning
	// keeps what recovery from it needs, and an unchanged position is not
	// rewritten. No flusher runs yet, so flushMu is not needed.
	l.lastRP, l.rpExists = rp, haveRP
	bases, err := l.listSegments()
	if err != nil {
		return err
	}
	verifyFrom := func(base int64) int64 {
		switch {
		case clean || (haveRP && base < rp.base):
			return math.MaxInt64
		case haveRP && base == rp.base:
			return rp.pos
		}
		return 0
	}
	if !clean && len(bases) > 0 {
		l.log.Info("storage: no clean-shutdown marker, recovering", "recovery_point_base", rp.base, "recovery_point_pos", rp.pos, "have_recovery_point", haveRP)
	}
	trusted := func(base int64) bool { return clean || (haveRP && base < rp.base) }
	k := l.loadIndexed(bases, trusted)
	if err := l.scanSegments(bases[k:], verifyFrom); err != nil {
		return err
	}
	return l.finishLoad(clean)
}

// loadIndexed opens the leading segments that may be trusted and have a
// matching index file, and starts producer state from the snapshot at the
// end of them. It returns how many segments it loaded; with no usable
// snapshot it loads none, so that scanning rebuilds producer state from the
// first segment.
func (l *Log) loadIndexed(bases []int64, trusted func(int64) bool) int {
	for _, base := range bases {
		if !trusted(base) || (len(l.segs) > 0 && base != l.segs[len(l.segs)-1].next) {
			break
		}
		s, err := l.openSegment(base)
		if err != nil {
			break // scanning reports it
		}
		if err := loadIndexFile(l.dir, s); err != nil {
			l.log.Debug("storage: index file unusable, scanning headers", "segment", segmentName(base), "err", err)
			s.drop()
			break
		}
		l.segs = append(l.segs, s)
	}
	if len(l.segs) == 0 {
		return 0
	}
	end := l.segs[len(l.segs)-1].next
	if p, ok := readSnapshot(l.dir, end); ok {
		l.producers = p
		l.opened.fromIndex = len(l.segs)
		return len(l.segs)
	}
	l.log.Debug("storage: no producer snapshot, scanning all headers", "offset", end)
	for _, s := range l.segs {
		s.drop()
	}
	l.segs = nil
	return 0
}

// listSegments returns the base offsets of the segment files in dir, in
// order, and removes leftovers of interrupted deletes and checkpoints.
func (l *Log) listSegments() ([]int64, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var bases []int64
	for _, e := range entries {
		name := e.Name()
		if isDeletedName(name) || strings.HasSuffix(name, ".tmp") {
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("remove leftover %s: %w", name, err)
			}
			continue
		}
		if base, ok := parseSegmentName(name); ok && e.Type().IsRegular() {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	// Index files of segments that no longer exist could otherwise match a
	// future segment of the same name.
	for _, e := range entries {
		digits, ok := strings.CutSuffix(e.Name(), indexSuffix)
		if !ok {
			continue
		}
		if base, err := strconv.ParseInt(digits, 10, 64); err == nil && !slices.Contains(bases, base) {
			if err := removeIndexFile(l.dir, base); err != nil {
				return nil, err
			}
		}
	}
	return bases, nil
}

// scanSegments opens and scans each segment in order. A damaged segment
// loses its tail from the damage on, and nothing else: later segments are
// scanned and kept, leaving a gap in the offsets that Read skips (as
// Kafka skips the gaps of a compacted log). A segment that overlaps the
// one before it cannot be served (two records would share offsets), so it
// is moved to the quarantine directory, never deleted.
func (l *Log) scanSegments(bases []int64, verifyFrom func(int64) int64) error {
	for i, base := range bases {
		if n := len(l.segs); n > 0 && base < l.segs[n-1].next {
			if err := l.quarantine(base, fmt.Sprintf("starts at offset %d, inside the previous segment (which ends at %d)", base, l.segs[n-1].next)); err != nil {
				return err
			}
			continue
		} else if n > 0 && base > l.segs[n-1].next {
			l.log.Warn("storage: offsets missing between segments; reads skip the gap",
				"segment", segmentName(base), "gap_from", l.segs[n-1].next, "gap_to", base)
		}
		if i == len(bases)-1 {
			l.ensureSnapshot(base)
		}
		s, err := l.openSegment(base)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		l.opened.scanned++
		damage := l.scanSegment(s, verifyFrom(base), i == len(bases)-1)
		if verifyFrom(base) == 0 {
			s.markVerified() // every batch it kept passed the CRC check
		}
		if damage != nil {
			l.log.Warn("storage: truncating a damaged segment at the damage; later segments are kept",
				"segment", segmentName(base), "pos", s.size, "lost_bytes", dataExtent(s.m.data[s.size:]),
				"later_segments_kept", len(bases)-i-1, "reason", damage)
		}
	}
	return nil
}

// dataExtent returns how many bytes of b hold data: up to its last
// non-zero byte (the rest is the preallocated, never written tail).
func dataExtent(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return i + 1
		}
	}
	return 0
}

// quarantineDirName is where recovery moves segments it cannot serve.
const quarantineDirName = "quarantine"

// quarantine moves a segment file (and its index file) out of the log
// into dir/quarantine, so that it is kept for an operator but not served.
func (l *Log) quarantine(base int64, why string) error {
	qdir := filepath.Join(l.dir, quarantineDirName)
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		return fmt.Errorf("quarantine segment %s: %w", segmentName(base), err)
	}
	from, to := filepath.Join(l.dir, segmentName(base)), filepath.Join(qdir, segmentName(base))
	if err := l.fs.Rename(from, to); err != nil {
		return fmt.Errorf("quarantine segment %s: %w", segmentName(base), err)
	}
	l.log.Warn("storage: segment moved to quarantine, not served", "segment", segmentName(base), "to", to, "reason", why)
	return removeIndexFile(l.dir, base)
}

// openSegment opens an existing segment file and maps it read-only at its
// current size (capped at MaxSegmentBytes; anything beyond is dropped).
func (l *Log) openSegment(base int64) (*segment, error) {
	path := filepath.Join(l.dir, segmentName(base))
	f, err := l.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open segment %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat segment %s: %w", path, err)
	}
	data, err := mmapFile(f, min(st.Size(), MaxSegmentBytes), false)
	if err != nil {
		f.Close()
		return nil, err
	}
	s := newSegment(path, base, f, int64(l.cfg.IndexIntervalBytes), l.fs, l.log)
	s.m = newMapping(data, l.log)
	return s, nil
}

// scanSegment hops the batches of s from position 0, rebuilding its index
// and bounds and the producer state; batches at or after verifyFrom are
// fully validated. It stops at the end of data: the end of the file or a
// zero batchLength (the preallocated tail). It returns nil at a clean end,
// or the reason it stopped early; s.size is the end of the good data.
// After a zero batchLength the rest of a sealed segment must be zero too (a
// hole followed by data means lost batches, so later segments go); for the
// last segment that check is skipped: it would read the whole preallocated
// tail and cannot change the outcome.
func (l *Log) scanSegment(s *segment, verifyFrom int64, last bool) error {
	data := s.m.data
	end := int64(len(data))
	for s.size < end {
		pos := s.size
		if end-pos < batchLengthPrefix {
			return tailError(data[pos:], "partial batch header")
		}
		if binary.BigEndian.Uint32(data[pos+offBatchLength:]) == 0 {
			if last {
				return nil
			}
			return tailError(data[pos:], "zero batch length")
		}
		if end-pos < batchHeaderSize {
			return fmt.Errorf("%w: partial batch header (%d bytes)", ErrCorruptBatch, end-pos)
		}
		h := parseHeader(data[pos : pos+batchHeaderSize])
		if err := l.checkStored(s, &h, data, pos, pos >= verifyFrom); err != nil {
			return err
		}
		s.appendHeader(&h)
		l.producers.update(&h, h.BaseOffset)
	}
	return nil
}

// checkStored validates a stored batch header at pos (and, when full, its
// CRC and record count) before recovery accepts it.
func (l *Log) checkStored(s *segment, h *BatchHeader, data []byte, pos int64, full bool) error {
	if h.BatchLength < minBatchLength {
		return fmt.Errorf("%w: batchLength %d below minimum", ErrCorruptBatch, h.BatchLength)
	}
	if pos+h.Size() > int64(len(data)) {
		return fmt.Errorf("%w: batch of %d bytes runs past end of file (%d bytes left)", ErrCorruptBatch, h.Size(), int64(len(data))-pos)
	}
	b := data[pos : pos+h.Size()]
	if err := checkStructure(h); err != nil {
		return err
	}
	if h.BaseOffset != s.next {
		return fmt.Errorf("%w: base offset %d, expected %d", ErrCorruptBatch, h.BaseOffset, s.next)
	}
	if h.LastOffset()-s.base > math.MaxInt32 {
		return fmt.Errorf("%w: offset %d too far from segment base %d", ErrCorruptBatch, h.LastOffset(), s.base)
	}
	if !full {
		return nil
	}
	if err := checkCRC(b, BatchCheck{}); err != nil {
		return err
	}
	if int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 {
		return fmt.Errorf("%w: record count %d does not match lastOffsetDelta %d", ErrCorruptBatch, h.NumRecords, h.LastOffsetDelta)
	}
	return nil
}

// tailError classifies the bytes after the last good batch: all zeros is
// the normal end of data (nil); anything else is a torn write.
func tailError(tail []byte, what string) error {
	for _, c := range tail {
		if c != 0 {
			return fmt.Errorf("%w: %s followed by non-zero bytes", ErrCorruptBatch, what)
		}
	}
	return nil
}

// finishLoad trims sealed segments, prepares the active one for appends
// (zeroing any stale bytes past the good data, so a later crash cannot
// resurrect them) and records what is durable.
func (l *Log) finishLoad(clean bool) error {
	if len(l.segs) == 0 {
		s, err := l.createSegment(0, l.cfg.SegmentBytes)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		clean = false // nothing to trust yet; write a first checkpoint below
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		if int64(len(s.m.data)) != s.size {
			if err := s.seal(false); err != nil {
				return err
			}
		}
	}
	a := l.active()
	if err := a.mapActive(l.growTo(0, a.size)); err != nil {
		// A full disk must not keep the log from opening to serve what
		// it holds: map just the data; appends grow it when they can
		// and fail with the storage error until then.
		if a.size == 0 || a.mapActive(a.size) != nil {
			return err
		}
		l.log.Warn("storage: cannot preallocate the active segment; opened without room to append", "segment", a.path, "err", err)
	}
	if err := l.removeStaleMetadata(); err != nil {
		return err
	}
	if clean {
		// Close synced everything, the directory included, and wrote the
		// matching recovery point.
		for _, s := range l.segs {
			s.flushed, s.durableEntry = s.size, true
		}
		return nil
	}
	// Recovered bytes may still be only in the page cache (a process crash
	// keeps them): sync them and checkpoint the recovered end.
	for _, s := range l.segs {
		if err := s.sync(); err != nil {
			return err
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	// Give the next crash recovery index files for the segments that had
	// to be scanned this time.
	for _, s := range l.segs {
		s.durableEntry = true
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		if !s.indexed {
			if err := writeIndexFile(l.fs, l.dir, s.base, s.encodeIndex()); err != nil {
				l.log.Warn("storage: persist segment index", "err", err)
			} else {
				s.indexed = true
			}
		}
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	return l.checkpoint(l.durablePoint())
}

// removeStaleMetadata deletes what must not outlive this open: the active
// segment's index file (it is writable again, and a truncated segment could
// later regrow to the same size) and snapshots beyond the recovered end.
func (l *Log) removeStaleMetadata() error {
	a := l.active()
	a.indexed = false
	if err := removeIndexFile(l.dir, a.base); err != nil {
		return err
	}
	offsets, err := listSnapshots(l.dir)
	if err != nil {
		return err
	}
	for _, off := range offsets {
		if off > a.next {
			if err := os.Remove(snapshotPath(l.dir, off)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale producer snapshot: %w", err)
			}
		}
	}
	return nil
}

// ensureSnapshot writes the producer state as of base, the start of the
// segment about to be scanned, unless a snapshot for it exists: after
// recovery that segment is the active one, and the next recovery starts
// producer state there.
func (l *Log) ensureSnapshot(base int64) {
	if _, err := os.Stat(snapshotPath(l.dir, base)); err == nil {
		return
	}
	// Until recovery checkpoints its end, a crash recovers from the old
	// checkpoint again and needs the snapshot at its segment.
	keepFrom := base
	if l.rpExists {
		keepFrom = min(keepFrom, l.lastRP.base)
	}
	if err := l.writeSnapshot(base, l.producers.encode(base), keepFrom); err != nil {
		l.log.Warn("storage: persist producer snapshot", "err", err)
	}
}
