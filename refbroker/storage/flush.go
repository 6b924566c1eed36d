package storage

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Sync makes every appended batch durable (msync of unsynced ranges),
// persists the index files and producer snapshots of segments sealed since
// the last flush, and advances the recovery point, whatever the Fsync
// policy. Safe for concurrent use; returns ErrClosed after Close.
func (l *Log) Sync() error {
	if err := l.flush(flushAll); err != nil {
		return fmt.Errorf("sync %s: %w", l.dir, err)
	}
	return nil
}

// flushScope says what one flush makes durable.
type flushScope int

const (
	// flushMeta only writes the index files and producer snapshots of
	// rolled segments (FsyncNever after a roll): no data sync, no
	// checkpoint, as that policy promises nothing before Sync.
	flushMeta flushScope = iota
	// flushSealed also syncs the unsynced bytes of sealed segments and the
	// directory entries of new segment files, then checkpoints: what
	// Kafka's roll-time "flush-log" does. The active segment is left to
	// the interval tick.
	flushSealed
	// flushAll syncs every unsynced byte, the active segment's included
	// (interval tick, Sync).
	flushAll
)

// rolledSegment is a segment sealed by roll whose metadata files the
// flusher has yet to write.
type rolledSegment struct {
	seg        *segment
	snapshot   []byte // producer state encoded at roll time, as of snapshotAt
	snapshotAt int64  // the sealed segment's next offset
}

// flushWork is one segment range to msync outside the log lock.
type flushWork struct {
	seg  *segment
	m    *mapping
	from int64
	to   int64
}

// flushPlan is the work of one flush, collected under mu and carried out
// without it.
type flushPlan struct {
	work     []flushWork
	entries  []*segment      // segments whose directory entry is not durable yet
	rolled   []rolledSegment // metadata to persist
	indexes  [][]byte        // encoded index per rolled segment; nil if retention removed it
	keepFrom int64           // snapshots below this offset may be pruned
}

// flush carries out one flush of the given scope without holding mu during
// the I/O (appends continue meanwhile), then records what became durable
// and, unless scope is flushMeta, writes the recovery-point checkpoint when
// it moved. Callers must not hold mu or flushMu.
func (l *Log) flush(scope flushScope) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	p, err := l.planFlush(scope)
	if err != nil {
		return err
	}
	var errs []error
	for _, w := range p.work {
		if len(errs) == 0 {
			if err := l.fs.SyncRange(w.seg.f, w.m.data, w.from, w.to); err != nil {
				errs = append(errs, fmt.Errorf("sync segment %s: %w", w.seg.path, err))
			}
		}
		w.m.release()
		w.seg.release()
	}
	// Metadata files only make Open faster and are validated when read,
	// so they are written even when the data sync failed; their failures
	// are logged, not returned.
	indexed := l.persistRolled(p)
	dirSynced := false
	if scope != flushMeta && len(errs) == 0 && (len(p.entries) > 0 || len(p.rolled) > 0) {
		// New segment files and the renames of the metadata files.
		if err := l.fs.SyncDir(l.dir); err != nil {
			errs = append(errs, err)
		} else {
			dirSynced = true
		}
	}

	l.mu.Lock()
	for _, s := range indexed {
		s.indexed = true
	}
	if len(errs) > 0 || scope == flushMeta {
		l.mu.Unlock()
		return errors.Join(errs...)
	}
	for _, w := range p.work {
		w.seg.flushed = max(w.seg.flushed, w.to)
	}
	if dirSynced {
		for _, s := range p.entries {
			s.durableEntry = true
		}
	}
	rp := l.durablePoint()
	l.mu.Unlock()
	return l.checkpoint(rp)
}

// planFlush collects the work of one flush and takes the rolled list.
// Caller holds flushMu.
func (l *Log) planFlush(scope flushScope) (flushPlan, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return flushPlan{}, ErrClosed
	}
	p := flushPlan{rolled: l.rolled, keepFrom: l.snapshotKeepFrom()}
	l.rolled = nil
	for _, r := range p.rolled {
		var idx []byte
		if l.holds(r.seg) {
			idx = r.seg.encodeIndex() // sealed: immutable from now on
		}
		p.indexes = append(p.indexes, idx)
	}
	if scope == flushMeta {
		return p, nil
	}
	syncable := l.segs
	if scope == flushSealed {
		syncable = syncable[:len(syncable)-1]
	}
	for _, s := range syncable {
		if s.flushed < s.size {
			p.work = append(p.work, flushWork{seg: s, m: s.acquire(), from: s.flushed, to: s.size})
		}
	}
	for _, s := range l.segs {
		if !s.durableEntry {
			p.entries = append(p.entries, s)
		}
	}
	return p, nil
}

// persistRolled writes the index files and producer snapshots of the
// rolled segments in p and returns the segments whose index was written.
// Caller holds flushMu (so retention cannot delete a segment meanwhile).
func (l *Log) persistRolled(p flushPlan) []*segment {
	var indexed []*segment
	for i, r := range p.rolled {
		if p.indexes[i] != nil {
			if err := writeIndexFile(l.fs, l.dir, r.seg.base, p.indexes[i]); err != nil {
				l.log.Warn("storage: persist segment index", "err", err)
			} else {
				indexed = append(indexed, r.seg)
			}
		}
		if err := l.writeSnapshot(r.snapshotAt, r.snapshot, p.keepFrom); err != nil {
			l.log.Warn("storage: persist producer snapshot", "err", err)
		}
	}
	return indexed
}

// holds reports whether s is still one of the log's segments (retention
// may have removed it since it was sealed). Caller holds mu.
func (l *Log) holds(s *segment) bool {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base >= s.base })
	return i < len(l.segs) && l.segs[i] == s
}

// snapshotKeepFrom is the lowest offset whose producer snapshot a future
// Open may still need: recovery starts producer state at the base of the
// segment holding the checkpointed recovery point (or later), and no
// snapshot below the first retained segment is ever used. Caller holds
// flushMu and mu.
func (l *Log) snapshotKeepFrom() int64 {
	keep := l.segs[0].base
	if l.rpExists {
		keep = max(keep, l.lastRP.base)
	}
	return keep
}

// durablePoint returns the recovery point implied by the segments' flushed
// marks and directory entries: the first byte not known durable. A segment
// whose directory entry may not survive a crash counts as not synced at
// all. Caller holds mu.
func (l *Log) durablePoint() recoveryPoint {
	for _, s := range l.segs {
		if !s.durableEntry {
			return recoveryPoint{base: s.base, pos: 0}
		}
		if s.flushed < s.size {
			return recoveryPoint{base: s.base, pos: s.flushed}
		}
	}
	a := l.active()
	return recoveryPoint{base: a.base, pos: a.size}
}

// checkpoint writes rp unless it is already the last one written. Caller
// holds flushMu.
func (l *Log) checkpoint(rp recoveryPoint) error {
	if l.rpExists && rp == l.lastRP {
		return nil
	}
	if err := writeRecoveryPoint(l.fs, l.dir, rp); err != nil {
		return err
	}
	l.lastRP, l.rpExists = rp, true
	return nil
}

// startFlusher starts the log's background goroutine. For every policy it
// persists the metadata of rolled segments when roll kicks it; for
// FsyncInterval it also syncs sealed segments then, and every interval
// syncs all data and checkpoints; for FsyncAlways (data already synced by
// Append) the interval only advances the checkpoint.
func (l *Log) startFlusher() {
	l.stopFlusher = make(chan struct{})
	l.flusherDone = make(chan struct{})
	l.kick = make(chan struct{}, 1)
	go l.runFlusher()
}

func (l *Log) runFlusher() {
	defer close(l.flusherDone)
	var tick <-chan time.Time
	onRoll := flushMeta
	if l.cfg.Fsync != FsyncNever {
		t := time.NewTicker(l.cfg.FsyncInterval)
		defer t.Stop()
		tick, onRoll = t.C, flushSealed
	}
	for {
		scope := flushAll
		select {
		case <-l.stopFlusher:
			return
		case <-tick:
		case <-l.kick:
			scope = onRoll
		}
		if err := l.flush(scope); err != nil && !errors.Is(err, ErrClosed) {
			l.log.Error("storage: background flush", "err", err)
		}
	}
}

// kickFlusher wakes the flusher without blocking; kicks coalesce.
func (l *Log) kickFlusher() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Close syncs all data, trims the active segment to its logical size,
// writes the recovery point and the clean-shutdown marker, and releases the
// log's references on the segments. Segments still held by a ReadResult
// are unmapped at its Release. Later calls return nil; other methods
// return ErrClosed (Wait channels are closed).
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stopFlusher)
	<-l.flusherDone

	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.closeWaiters()

	// Snapshots of rolled segments are not needed after a clean close
	// (Open starts from the one at the end); their index files are
	// written below with every other missing one.
	l.rolled = nil
	var errs []error
	for _, s := range l.segs {
		if err := s.sync(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := l.active().seal(false); err != nil {
		errs = append(errs, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		for _, s := range l.segs {
			s.durableEntry = true
		}
		// Index files and the snapshot at the end let the next Open skip
		// reading headers; they are optional, so failures are only logged.
		for _, s := range l.segs {
			if !s.indexed {
				if err := writeIndexFile(l.fs, l.dir, s.base, s.encodeIndex()); err != nil {
					l.log.Warn("storage: persist segment index", "err", err)
				} else {
					s.indexed = true
				}
			}
		}
		end := l.active().next
		if err := l.writeSnapshot(end, l.producers.encode(end), l.snapshotKeepFrom()); err != nil {
			l.log.Warn("storage: persist producer snapshot", "err", err)
		}
		// The marker promises that every byte is synced and every file is
		// trimmed; write it only when that is true.
		if err := l.checkpoint(l.durablePoint()); err != nil {
			errs = append(errs, err)
		} else if err := writeCleanMarker(l.fs, l.dir); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range l.segs {
		s.drop()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close %s: %w", l.dir, err)
	}
	return nil
}

// closeWaiters wakes current waiters and leaves a closed channel in place,
// so every later Wait returns at once instead of blocking forever.
func (l *Log) closeWaiters() {
	closed := make(chan struct{})
	close(closed)
	if old := l.waitCh.Swap(&closed); old != nil {
		close(*old)
	}
}

func isDeletedName(name string) bool { return strings.HasSuffix(name, deletedSuffix) }

// isNotEmpty reports whether dir still has entries (held deleted segments).
func isNotEmpty(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) > 0
}
