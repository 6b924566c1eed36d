package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/refbroker/internal/fsys"
)

// These tests check durability against a simulated power loss, not a
// process kill: a kill -9 keeps everything in the page cache, so it cannot
// tell whether anything was ever synced (refbroker/e2e's kill tests check
// recovery, not fsync). Here every log runs on an fsys.Recorder, and after
// each file operation the test takes a crash clone: the directory as it
// would be if the machine lost power right then and the kernel had written
// back nothing that was not synced.

// crashPoint is one crash clone and what had been acknowledged before it
// was taken.
type crashPoint struct {
	dir   string // the clone's root
	after fsys.Op
	acked []ackedBatch
}

type ackedBatch struct {
	offset int64
	batch  []byte
}

// crashRig runs a log on a Recorder and takes a crash clone after every
// sync (the only operations that change what a crash leaves). It is safe
// for the flusher goroutine to trigger clones while the test goroutine
// appends.
type crashRig struct {
	t      *testing.T
	rec    *fsys.Recorder
	root   string // the recorded tree; the log is root/p0
	clones string
	// inject, if set, fails chosen operations (see fsys.Recorder.Fail);
	// injectOff suspends it.
	inject    func(fsys.Op) error
	injectOff bool

	mu     sync.Mutex
	acked  []ackedBatch
	points []crashPoint
	errs   []error
}

func newCrashRig(t *testing.T) *crashRig {
	t.Helper()
	r := &crashRig{t: t, root: t.TempDir(), clones: t.TempDir()}
	// NoSync underneath: durability is the Recorder's model, so the
	// disk need not be waited for.
	rec, err := fsys.NewRecorder(r.root, fsys.NoSync{})
	if err != nil {
		t.Fatal(err)
	}
	rec.Fail, rec.After = r.before, r.crash
	r.rec = rec
	return r
}

func isSync(op fsys.Op) bool {
	return op.Kind == fsys.OpSync || op.Kind == fsys.OpSyncRange || op.Kind == fsys.OpSyncDir
}

// before runs ahead of each operation. Before a sync, the image of the
// last crash point is still what a crash would leave, and everything
// acknowledged so far must be in it: attach the acknowledgements made
// since the clone was taken. Then it injects failures.
func (r *crashRig) before(op fsys.Op) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if isSync(op) && len(r.points) > 0 {
		r.points[len(r.points)-1].acked = slices.Clone(r.acked)
	}
	if r.inject != nil && !r.injectOff {
		return r.inject(op)
	}
	return nil
}

func (r *crashRig) logDir() string { return filepath.Join(r.root, "p0") }

// crash takes a clone after op. The acknowledged list is read before the
// clone, so every batch in it was acknowledged (and, under FsyncAlways,
// synced) before the image was taken.
func (r *crashRig) crash(op fsys.Op) {
	if !isSync(op) {
		return // the image is the one of the last sync
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	acked := slices.Clone(r.acked)
	dir := filepath.Join(r.clones, fmt.Sprint(len(r.points)))
	if err := r.rec.CrashClone(dir); err != nil {
		r.errs = append(r.errs, err)
		return
	}
	r.points = append(r.points, crashPoint{dir: dir, after: op, acked: acked})
}

func (r *crashRig) ack(offset int64, batch []byte) {
	r.mu.Lock()
	r.acked = append(r.acked, ackedBatch{offset, batch})
	r.mu.Unlock()
}

// takePoints returns the clones taken so far and any error taking them.
func (r *crashRig) takePoints() []crashPoint {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := errors.Join(r.errs...); err != nil {
		r.t.Fatalf("crash clone: %v", err)
	}
	p := r.points
	if len(p) > 0 {
		p[len(p)-1].acked = slices.Clone(r.acked)
	}
	r.points = nil
	return p
}

// workload appends n batches of varying sizes (rolling 4 KiB segments
// often), idempotent and not, closing and reopening the log halfway, and
// calls sync every syncEvery appends (0: never). It returns the log, open.
func (r *crashRig) workload(cfg Config, n, syncEvery int) *Log {
	t := r.t
	t.Helper()
	cfg.FS, cfg.Logger = r.rec, quietLogger()
	r.mu.Lock()
	r.injectOff = true // the first open is not what is under test
	r.mu.Unlock()
	l, err := Open(r.logDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.injectOff = false
	r.mu.Unlock()
	seq := int32(0)
	for i := range n {
		spec := plain(1+i%5, byte('a'+i%26))
		spec.valueSize = 40 + 37*(i%7)
		if i%3 == 0 {
			spec.producerID, spec.seq = 5, seq
			seq += int32(spec.records)
		}
		b := makeBatch(spec)
		res, err := l.Append(b, 0)
		if err != nil {
			if errors.Is(err, fsys.ErrInjected) {
				if i%3 == 0 {
					seq -= int32(spec.records) // not stored: resend the sequence
				}
				continue
			}
			t.Fatalf("append %d: %v", i, err)
		}
		r.ack(res.BaseOffset, b)
		if syncEvery > 0 && i%syncEvery == syncEvery-1 {
			if err := l.Sync(); err != nil && !errors.Is(err, fsys.ErrInjected) {
				t.Fatalf("sync: %v", err)
			}
		}
		if i == n/2 {
			if err := l.Close(); err != nil && !errors.Is(err, fsys.ErrInjected) {
				t.Fatalf("close: %v", err)
			}
			// The restart runs without injected failures (an open
			// that fails is simply retried by the operator).
			r.mu.Lock()
			r.injectOff = true
			r.mu.Unlock()
			if l, err = Open(r.logDir(), cfg); err != nil {
				t.Fatalf("reopen: %v", err)
			}
			r.mu.Lock()
			r.injectOff = false
			r.mu.Unlock()
		}
	}
	return l
}

// TestCrashAckedAppendSurvives: under FsyncAlways every acknowledged
// append survives a power loss at any point, including during rolls, the
// background flush, Close and the reopen's recovery.
func TestCrashAckedAppendSurvives(t *testing.T) {
	t.Parallel()
	r := newCrashRig(t)
	// No interval ticks: the flusher runs only when a roll kicks it, so
	// the operations (and crash points) do not depend on timing.
	l := r.workload(Config{SegmentBytes: 4096, IndexIntervalBytes: 256, Fsync: FsyncAlways, FsyncInterval: time.Hour}, 60, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	points := r.takePoints()
	t.Logf("%d crash points", len(points))
	if len(points) < 60 {
		t.Fatalf("only %d crash points", len(points))
	}
	for _, p := range points {
		got, err := recoverClone(p.dir)
		if err != nil {
			t.Fatalf("crash after %v: %v", p.after, err)
		}
		for _, a := range p.acked {
			if b, ok := got[a.offset]; !ok || !sameBatch(b, a.batch) {
				t.Fatalf("crash after %v: acknowledged batch at offset %d lost (present %v)", p.after, a.offset, ok)
			}
		}
	}
}

// TestCrashRecoveryPointNeverPassesUnsynced: whatever the policy, and
// with syncs failing now and then, the recovery point in any crash image
// only covers bytes that are in the image: every segment before it, and
// its segment up to its position, hold whole batches that pass the full
// checks (recovery trusts them without a CRC check).
func TestCrashRecoveryPointNeverPassesUnsynced(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy Fsync
		// failEvery fails every Nth msync, fsync and directory sync
		// (0: none); a failed sync must not move the recovery point.
		failEvery int
	}{
		{"interval", FsyncInterval, 0},
		{"never, explicit syncs", FsyncNever, 0},
		{"always", FsyncAlways, 0},
		{"interval, failing syncs", FsyncInterval, 5},
		{"always, failing syncs", FsyncAlways, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newCrashRig(t)
			count := 0
			if tt.failEvery > 0 {
				r.inject = func(op fsys.Op) error { // called under r.mu
					if count++; isSync(op) && count%tt.failEvery == 0 {
						return fsys.ErrInjected
					}
					return nil
				}
			}
			cfg := Config{SegmentBytes: 4096, IndexIntervalBytes: 256, Fsync: tt.policy, FsyncInterval: time.Hour}
			l := r.workload(cfg, 50, 7)
			r.mu.Lock()
			r.injectOff = true
			r.mu.Unlock()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			points := r.takePoints()
			checked := 0
			for _, p := range points {
				ok, err := checkRecoveryPoint(filepath.Join(p.dir, "p0"))
				if err != nil {
					t.Fatalf("crash after %v: %v", p.after, err)
				}
				if ok {
					checked++
				}
			}
			if checked < len(points)/2 {
				t.Fatalf("only %d of %d crash images had a recovery point", checked, len(points))
			}
		})
	}
}

// recoverClone opens a crash image with the real file system, as a
// restart would, and returns its batches by base offset.
func recoverClone(root string) (map[int64][]byte, error) {
	l, err := Open(filepath.Join(root, "p0"), Config{SegmentBytes: 4096, IndexIntervalBytes: 256, Logger: quietLogger(), FS: fsys.NoSync{}})
	if err != nil {
		return nil, fmt.Errorf("open the crash image: %w", err)
	}
	defer l.Close()
	got := map[int64][]byte{}
	for next := l.StartOffset(); next < l.HighWatermark(); {
		rr, err := l.Read(next, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("read the crash image at %d: %w", next, err)
		}
		if len(rr.Data) == 0 {
			rr.Release()
			break
		}
		for data := rr.Data; len(data) > 0; {
			h := parseHeader(data)
			got[h.BaseOffset] = slices.Clone(data[:h.Size()])
			next = h.LastOffset() + 1
			data = data[h.Size():]
		}
		rr.Release()
	}
	return got, nil
}

// checkRecoveryPoint checks the recovery point of the log directory of a
// crash image against the segments in it; ok=false when there is no
// recovery point (nothing promised yet).
func checkRecoveryPoint(dir string) (ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	rp, err := decodeRecoveryPoint(b)
	if err != nil {
		return false, fmt.Errorf("recovery point torn: %w", err)
	}
	bases, err := (&Log{dir: dir}).listSegments()
	if err != nil {
		return false, err
	}
	next := int64(-1)
	for _, base := range bases {
		if base > rp.base {
			break
		}
		if next >= 0 && base != next {
			return false, fmt.Errorf("recovery point %+v: segment %d follows one ending at offset %d", rp, base, next)
		}
		data, err := os.ReadFile(filepath.Join(dir, segmentName(base)))
		if err != nil {
			return false, err
		}
		limit := int64(len(data))
		if base == rp.base {
			if rp.pos > limit {
				return false, fmt.Errorf("recovery point %+v is past the %d bytes of its segment in the image", rp, limit)
			}
			limit = rp.pos
		}
		if next, err = checkSyncedBatches(data, limit, base, base < rp.base); err != nil {
			return false, fmt.Errorf("recovery point %+v: segment %d: %w", rp, base, err)
		}
		if base == rp.base {
			return true, nil
		}
	}
	if rp.base == 0 && rp.pos == 0 {
		return true, nil // an empty log: nothing promised
	}
	return false, fmt.Errorf("recovery point %+v: its segment is not in the image (segments %v)", rp, bases)
}

// checkSyncedBatches checks that data[:limit] is whole batches passing the
// full checks with contiguous offsets from base (a sealed segment, whole,
// may end in a zero tail), and returns the offset after them.
func checkSyncedBatches(data []byte, limit, base int64, whole bool) (int64, error) {
	next, pos := base, int64(0)
	for pos < limit {
		if whole && tailError(data[pos:limit], "zero tail") == nil {
			return next, nil // the zero tail of a sealed segment not yet trimmed on disk
		}
		if limit-pos < batchHeaderSize {
			return 0, fmt.Errorf("partial header at %d (synced up to %d)", pos, limit)
		}
		h := parseHeader(data[pos:])
		if h.BatchLength < minBatchLength || pos+h.Size() > limit {
			return 0, fmt.Errorf("batch at %d (length %d) does not fit the synced %d bytes", pos, h.BatchLength, limit)
		}
		if _, err := validateBatch(data[pos:pos+h.Size()], BatchCheck{}); err != nil {
			return 0, fmt.Errorf("batch at %d: %w", pos, err)
		}
		if h.BaseOffset != next {
			return 0, fmt.Errorf("batch at %d has offset %d, want %d", pos, h.BaseOffset, next)
		}
		next, pos = h.LastOffset()+1, pos+h.Size()
	}
	return next, nil
}
