package storage

import (
	"fmt"
	"time"
)

// EnforceRetention deletes whole oldest segments that violate the
// retention limits, never the active one:
//   - RetentionBytes > 0: while the partition is larger than RetentionBytes
//     (so the log may end up below the limit by up to one segment);
//   - Retention > 0: while the oldest segment's newest batch timestamp is
//     older than now-Retention (the oldest unexpired segment stops the scan,
//     as in Kafka, so the log stays a contiguous suffix).
//
// A deleted segment disappears from the log at once (StartOffset advances);
// its file is renamed to *.deleted and removed, and unmapped, when the last
// ReadResult holding it is released. The broker calls this periodically.
// Safe for concurrent use.
func (l *Log) EnforceRetention(now time.Time) error {
	// flushMu keeps the flusher from writing the index file of a segment
	// deleted here (it checks, under flushMu, that the log still holds it).
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("retention %s: %w", l.dir, ErrClosed)
	}
	cutoff := int64(-1) << 63
	if l.cfg.Retention > 0 {
		cutoff = now.Add(-l.cfg.Retention).UnixMilli()
	}
	size := l.size.Load()
	n := 0
	for n < len(l.segs)-1 {
		s := l.segs[n]
		overSize := l.cfg.RetentionBytes > 0 && size > l.cfg.RetentionBytes
		expired := l.cfg.Retention > 0 && s.maxTs < cutoff
		if !overSize && !expired {
			break
		}
		size -= s.size
		n++
	}
	if n == 0 {
		return nil
	}
	doomed := l.segs[:n]
	l.segs = append([]*segment(nil), l.segs[n:]...) // let the old array go
	l.publish()
	var firstErr error
	for _, s := range doomed {
		if err := s.doom(""); err != nil && firstErr == nil {
			firstErr = err
		}
		if err := removeIndexFile(l.dir, s.base); err != nil && firstErr == nil {
			firstErr = err
		}
		s.drop()
		l.log.Info("storage: retention deleted segment", "base", s.base, "bytes", s.size)
	}
	if firstErr != nil {
		return fmt.Errorf("retention %s: %w", l.dir, firstErr)
	}
	return nil
}
