package storage

import (
	"os"
	"testing"
	"time"
)

// appendRolls appends 1500-byte batches until the log has at least segs
// segments (smallConfig holds two per segment).
func appendRolls(t *testing.T, l *Log, segs int) {
	t.Helper()
	if err := tryAppendRolls(l, segs); err != nil {
		t.Fatal(err)
	}
}

// tryAppendRolls is appendRolls for goroutines other than the test's.
func tryAppendRolls(l *Log, segs int) error {
	b := makeBatch(batchSpec{valueSize: 1500, producerID: noProducer})
	for {
		l.mu.RLock()
		n := len(l.segs)
		l.mu.RUnlock()
		if n >= segs {
			return nil
		}
		if _, err := l.Append(b, 0); err != nil {
			return err
		}
	}
}

// TestRollDoesNotWaitForFlusher holds the flush lock, as a flush stuck on
// a slow disk would, and checks that appends keep rolling segments: the
// sealed segment's sync, index file and snapshot are the flusher's job.
func TestRollDoesNotWaitForFlusher(t *testing.T) {
	t.Parallel()
	for _, policy := range []Fsync{FsyncInterval, FsyncAlways, FsyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			cfg := smallConfig()
			cfg.Fsync, cfg.FsyncInterval = policy, time.Hour
			l, dir := newLog(t, cfg)
			l.flushMu.Lock()
			done := make(chan error, 1)
			go func() { done <- tryAppendRolls(l, 6) }()
			select {
			case err := <-done:
				if err != nil {
					l.flushMu.Unlock()
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				l.flushMu.Unlock() // let Close at cleanup proceed
				t.Fatal("appends that roll waited for the flusher")
			}
			l.flushMu.Unlock()
			// Once the flusher runs, every sealed segment gets its index
			// file, and (except under never) the checkpoint passes them
			// without waiting for the one-hour tick.
			waitFor(t, 10*time.Second, "index files of sealed segments", func() bool {
				l.mu.RLock()
				defer l.mu.RUnlock()
				for _, s := range l.segs[:len(l.segs)-1] {
					if !s.indexed {
						return false
					}
				}
				return true
			})
			if policy == FsyncNever {
				return
			}
			l.mu.RLock()
			activeBase := l.active().base
			l.mu.RUnlock()
			waitFor(t, 10*time.Second, "recovery point in the active segment", func() bool {
				rp, ok, err := readRecoveryPoint(dir)
				return err == nil && ok && rp.base == activeBase
			})
		})
	}
}

// TestRecoveryPointWaitsForDirectoryEntry checks that the recovery point
// never reaches into a segment whose directory entry may not survive a
// crash, even if its bytes were synced.
func TestRecoveryPointWaitsForDirectoryEntry(t *testing.T) {
	t.Parallel()
	cfg := smallConfig() // FsyncNever: nothing syncs behind the test's back
	l, _ := newLog(t, cfg)
	appendRolls(t, l, 3)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	appendRolls(t, l, 5) // two new segment files, directory not synced
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		s.flushed = s.size // as if every byte were synced
	}
	first := l.segs[3]
	if first.durableEntry || !l.segs[2].durableEntry {
		t.Fatalf("durable entries: segment 2 %v, segment 3 %v; want true, false", l.segs[2].durableEntry, first.durableEntry)
	}
	if got, want := l.durablePoint(), (recoveryPoint{base: first.base}); got != want {
		t.Fatalf("durablePoint = %+v, want %+v", got, want)
	}
}

// TestAlwaysAcksOnlyDurableSegmentFiles checks that with FsyncAlways an
// append into a new segment returns only once the segment's directory
// entry is durable.
func TestAlwaysAcksOnlyDurableSegmentFiles(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	cfg.Fsync, cfg.FsyncInterval = FsyncAlways, time.Hour
	l, _ := newLog(t, cfg)
	b := makeBatch(batchSpec{valueSize: 1500, producerID: noProducer})
	for range 9 {
		mustAppend(t, l, b)
		l.mu.RLock()
		a := l.active()
		ok := a.durableEntry && a.flushed == a.size
		l.mu.RUnlock()
		if !ok {
			t.Fatal("append acknowledged before its segment file was durable")
		}
	}
}

// TestSnapshotsArePruned checks that background snapshot writes keep only
// what recovery can use: snapshots do not pile up one per roll.
func TestSnapshotsArePruned(t *testing.T) {
	t.Parallel()
	cfg := smallConfig()
	cfg.Fsync, cfg.FsyncInterval = FsyncInterval, time.Hour
	l, dir := newLog(t, cfg)
	for n := 4; n <= 20; n += 4 {
		appendRolls(t, l, n)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	appendRolls(t, l, 22)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	offsets, err := listSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	rp, ok, err := readRecoveryPoint(dir)
	if err != nil || !ok {
		t.Fatalf("recovery point: %v, %v", ok, err)
	}
	if len(offsets) > 3 {
		t.Fatalf("%d snapshots kept (%v), want at most 3", len(offsets), offsets)
	}
	if _, err := os.Stat(snapshotPath(dir, rp.base)); err != nil {
		t.Fatalf("snapshot at the recovery point's segment %d missing: %v", rp.base, err)
	}
}
