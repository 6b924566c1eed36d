package storage

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Sync makes every appended batch durable (msync of unsynced ranges) and
// advances the recovery point, whatever the Fsync policy. Safe for
// concurrent use; returns ErrClosed after Close.
func (l *Log) Sync() error {
	if err := l.flush(); err != nil {
		return fmt.Errorf("sync %s: %w", l.dir, err)
	}
	return nil
}

// flushWork is one segment range to msync outside the log lock.
type flushWork struct {
	seg  *segment
	m    *mapping
	from int64
	to   int64
}

// flush syncs unsynced ranges without holding mu during the I/O (appends
// continue meanwhile), then records the new durable position and writes the
// recovery-point checkpoint when it moved.
func (l *Log) flush() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()

	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	var work []flushWork
	for _, s := range l.segs {
		if s.flushed < s.size {
			work = append(work, flushWork{seg: s, m: s.acquire(), from: s.flushed, to: s.size})
		}
	}
	l.mu.RUnlock()

	var err error
	for _, w := range work {
		if err == nil {
			err = msyncRange(w.m.data, w.from, w.to)
			if err != nil {
				err = fmt.Errorf("sync segment %s: %w", w.seg.path, err)
			}
		}
		w.m.release()
		w.seg.release()
	}
	if err != nil {
		return err
	}

	l.mu.Lock()
	for _, w := range work {
		w.seg.flushed = max(w.seg.flushed, w.to)
	}
	rp := l.durablePoint()
	l.mu.Unlock()
	return l.checkpoint(rp)
}

// durablePoint returns the recovery point implied by the segments' flushed
// marks: the first unsynced byte. Caller holds mu.
func (l *Log) durablePoint() recoveryPoint {
	for _, s := range l.segs {
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
	if err := writeRecoveryPoint(l.dir, rp); err != nil {
		return err
	}
	l.lastRP, l.rpExists = rp, true
	return nil
}

// startFlusher runs the background flush loop for FsyncInterval (data and
// checkpoint) and FsyncAlways (checkpoint only: data is already synced).
func (l *Log) startFlusher() {
	l.stopFlusher = make(chan struct{})
	l.flusherDone = make(chan struct{})
	if l.cfg.Fsync == FsyncNever {
		close(l.flusherDone)
		return
	}
	go func() {
		defer close(l.flusherDone)
		t := time.NewTicker(l.cfg.FsyncInterval)
		defer t.Stop()
		for {
			select {
			case <-l.stopFlusher:
				return
			case <-t.C:
				if err := l.flush(); err != nil && !errors.Is(err, ErrClosed) {
					l.log.Error("storage: background flush", "err", err)
				}
			}
		}
	}()
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

	var errs []error
	for _, s := range l.segs {
		if err := s.sync(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := l.active().seal(false); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		// Index files and the snapshot at the end let the next Open skip
		// reading headers; they are optional, so failures are only logged.
		for _, s := range l.segs {
			if !s.indexed {
				if err := writeIndexFile(l.dir, s); err != nil {
					l.log.Warn("storage: persist segment index", "err", err)
				}
			}
		}
		if err := l.writeSnapshot(l.active().next); err != nil {
			l.log.Warn("storage: persist producer snapshot", "err", err)
		}
		// The marker promises that every byte is synced and every file is
		// trimmed; write it only when that is true.
		if err := l.checkpoint(l.durablePoint()); err != nil {
			errs = append(errs, err)
		} else if err := writeCleanMarker(l.dir); err != nil {
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
