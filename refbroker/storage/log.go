package storage

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/brokerbench/brokerbench/refbroker/internal/fsys"
)

// Log is one topic-partition: a directory of mmap'd segment files with a
// sparse index per segment and idempotent-producer state.
//
// A Log is safe for concurrent use. Appends are serialised by one mutex;
// readers take it shared only to locate data and then read the mapping
// without it, so they run concurrently with the writer.
//
// Lock order: flushMu, then mu, then a segment's lifeMu (a leaf). No code
// holds mu while waiting for flushMu.
type Log struct {
	// hdr is scratch for the patched header of the batch being appended;
	// guarded by mu.
	hdr [patchedPrefix]byte

	dir string
	cfg Config
	log *slog.Logger
	fs  fsys.FS // cfg.FS or the real OS: every sync, rename and create

	// flushMu serialises flushes, recovery-point writes and the writes of
	// index files and snapshots (background flusher, Sync, Close), so
	// checkpoints are written in order; retention takes it too, so that a
	// segment it deletes never gets an index file written afterwards.
	flushMu  sync.Mutex
	lastRP   recoveryPoint // last checkpoint written; guarded by flushMu
	rpExists bool          // guarded by flushMu

	mu        sync.RWMutex
	segs      []*segment // ordered by base offset; the last is active
	producers producerState
	closed    bool
	// rolled lists segments sealed since the flusher last ran, with the
	// producer snapshot as of each one's end; the flusher persists their
	// index files and snapshots (flush.go).
	rolled []rolledSegment

	// Lock-free copies for the hot getters, written under mu.
	hw, start, size atomic.Int64

	// waitCh is closed and cleared by the next Append; created lazily by
	// Wait so appends without waiters allocate nothing.
	waitCh atomic.Pointer[chan struct{}]

	stopFlusher chan struct{}
	flusherDone chan struct{}
	// kick wakes the flusher after a roll; buffered (1), sends never block.
	kick chan struct{}

	opened openStats // how Open loaded the log; written only by Open
}

// openStats records how Open loaded the segments, for the open log line
// and for tests.
type openStats struct {
	clean     bool // the clean-shutdown marker was present
	fromIndex int  // segments loaded from index files without scanning
	scanned   int  // segments whose headers were hopped or validated
}

// AppendResult describes an accepted batch.
type AppendResult struct {
	// BaseOffset is the offset assigned to the first record of the batch;
	// for a duplicate it is the offset assigned when it was first appended.
	BaseOffset int64
	// LogAppendTime is always -1: batches keep their CreateTime.
	LogAppendTime int64
	// LogStartOffset is the first retained offset at the time of the append.
	LogStartOffset int64
	// Duplicate is true when an idempotent producer resent a batch that is
	// already stored; nothing was written.
	Duplicate bool
}

// Append validates one Kafka v2 record batch and appends it. batch must be
// exactly one batch (a produce request's records may hold several; split
// them first). Checks: length consistent with len(batch), batchLength >= 49,
// magic 2, CRC-32C, lastOffsetDelta >= 0 and record count ==
// lastOffsetDelta+1, no transactional or control batch. For producerId >= 0
// the idempotence rules of docs/storage.md apply: a resent batch returns
// Duplicate with its original offset and writes nothing.
// The bytes are stored exactly as received except baseOffset and
// partitionLeaderEpoch, which are patched in place (neither is covered by
// the CRC). The caller's slice is copied and never retained or modified.
//
// Errors wrap ErrCorruptBatch, ErrUnsupported, ErrOutOfOrderSequence,
// ErrInvalidProducerEpoch or ErrClosed; an I/O failure (roll, fsync) is
// returned wrapped as is. With FsyncAlways the batch is synced before
// Append returns. Safe for concurrent use; appends are serialised.
func (l *Log) Append(batch []byte, leaderEpoch int32) (AppendResult, error) {
	return l.AppendChecked(batch, leaderEpoch, BatchCheck{})
}

// AppendChecked is Append for a batch a BatchScan looked at while it
// arrived (check): the checks of the batch's bytes it passed then are
// not run again, and a batch it found bad is validated again (with its
// CRC already summed) to report why. The checks that depend on the log
// (max.message.bytes, segment size, producer sequences) run as in
// Append; the zero BatchCheck makes it Append.
func (l *Log) AppendChecked(batch []byte, leaderEpoch int32, check BatchCheck) (AppendResult, error) {
	// Checked first: a batch too large to keep is not worth decoding.
	if int64(len(batch)) > l.cfg.MaxMessageBytes {
		return AppendResult{}, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", ErrMessageTooLarge, len(batch), l.cfg.MaxMessageBytes)
	}
	h, err := validateBatch(batch, check)
	if err != nil {
		return AppendResult{}, fmt.Errorf("append to %s: %w", l.dir, err)
	}
	if h.Size() > MaxSegmentBytes {
		return AppendResult{}, fmt.Errorf("append to %s: %w: batch of %d bytes exceeds the %d-byte segment limit", l.dir, ErrCorruptBatch, h.Size(), int64(MaxSegmentBytes))
	}
	l.mu.Lock()
	res, err := l.appendLocked(batch, &h, leaderEpoch)
	if err == nil && !res.Duplicate {
		// Under the lock: Close installs an already-closed wait channel,
		// and a wake-up after it would close that channel a second time.
		l.notify()
	}
	l.mu.Unlock()
	if err != nil {
		return AppendResult{}, fmt.Errorf("append to %s: %w", l.dir, err)
	}
	return res, nil
}

func (l *Log) appendLocked(batch []byte, h *BatchHeader, leaderEpoch int32) (AppendResult, error) {
	if l.closed {
		return AppendResult{}, ErrClosed
	}
	res := AppendResult{LogAppendTime: -1, LogStartOffset: l.start.Load()}
	if h.ProducerID >= 0 {
		off, dup, err := l.producers.check(h)
		if err != nil {
			return AppendResult{}, err
		}
		if dup {
			res.BaseOffset, res.Duplicate = off, true
			return res, nil
		}
	}
	seg := l.active()
	base := seg.next
	n := h.Size()
	// Roll when the batch would take a non-empty segment past
	// SegmentBytes, or when its offsets would not fit the index's 32-bit
	// relative offsets; otherwise grow the preallocation if it must.
	if seg.size > 0 && (seg.size+n > l.cfg.SegmentBytes || base+int64(h.LastOffsetDelta)-seg.base > math.MaxInt32) {
		var err error
		if seg, err = l.roll(n); err != nil {
			return AppendResult{}, err
		}
	}
	if seg.size+n > seg.capacity {
		if err := seg.mapActive(l.growTo(seg.capacity, seg.size+n)); err != nil {
			return AppendResult{}, fmt.Errorf("grow segment: %w", err)
		}
	}
	// Write through the file, not the mapping: storing into fresh mmap
	// pages takes a page fault per 4 KiB, several times slower than one
	// pwritev. Readers see the bytes through the shared mapping all the
	// same (one page cache). Only the patched header prefix is copied.
	hdr := l.hdr[:]
	copy(hdr, batch[:patchedPrefix])
	binary.BigEndian.PutUint64(hdr[offBaseOffset:], uint64(base))
	binary.BigEndian.PutUint32(hdr[offLeaderEpoch:], uint32(leaderEpoch))
	if err := pwriteBatch(seg.f, hdr, batch[patchedPrefix:], seg.size); err != nil {
		return AppendResult{}, fmt.Errorf("write segment %s: %w", seg.path, err)
	}
	if l.cfg.Fsync == FsyncAlways {
		if err := l.ensureDurableEntry(seg); err != nil {
			return AppendResult{}, err
		}
		// Sync before publishing: on failure the bytes stay past the
		// logical end, invisible, and are overwritten by the next append.
		if err := l.fs.SyncRange(seg.f, seg.m.data, seg.flushed, seg.size+n); err != nil {
			return AppendResult{}, fmt.Errorf("sync segment %s: %w", seg.path, err)
		}
	}
	h.BaseOffset = base
	seg.appendHeader(h)
	if l.cfg.Fsync == FsyncAlways {
		seg.flushed = seg.size
	}
	l.producers.update(h, base)
	l.hw.Store(seg.next)
	l.size.Add(n)
	res.BaseOffset = base
	return res, nil
}

// preallocStep is the first preallocation of an active segment. It
// doubles as the segment fills, up to SegmentBytes, so that a partition
// costs disk for what it holds, not a whole segment up front (one
// CreateTopics of many partitions used to fill the disk).
const preallocStep = 1 << 20

// growTo returns the capacity for an active segment of capacity cur that
// must hold need bytes: at least preallocStep, double cur, at most
// SegmentBytes (or need, for a batch larger than a segment).
func (l *Log) growTo(cur, need int64) int64 {
	capacity := max(min(int64(preallocStep), l.cfg.SegmentBytes), 2*cur)
	return max(need, min(capacity, l.cfg.SegmentBytes))
}

// active returns the segment appends go to. Caller holds mu.
func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// roll seals the active segment and starts a new one able to hold need
// bytes. An empty active segment that is too small is grown in place
// instead (no reader can hold an empty segment). Caller holds mu.
//
// Rolling does no disk wait: sealing only trims and remaps the old file,
// and syncing its bytes, writing its index file and the producer snapshot
// at its end, and syncing the directory entry of the new file are left to
// the background flusher, which roll wakes. Kafka does the same
// (UnifiedLog.roll schedules "flush-log"), so appends never stall for a
// segment's worth of writeback. The recovery point only passes the sealed
// segment once the flusher has made it durable (durablePoint).
func (l *Log) roll(need int64) (*segment, error) {
	old := l.active()
	if err := old.seal(false); err != nil {
		return nil, fmt.Errorf("roll: %w", err)
	}
	seg, err := l.createSegment(old.next, l.growTo(0, need))
	if err != nil {
		return nil, fmt.Errorf("roll: %w", err)
	}
	// The snapshot must describe the producer state exactly at the new
	// base, so it is encoded now; the file is written in the background.
	l.rolled = append(l.rolled, rolledSegment{seg: old, snapshot: l.producers.encode(old.next), snapshotAt: old.next})
	l.segs = append(l.segs, seg)
	l.kickFlusher()
	return seg, nil
}

// ensureDurableEntry syncs the directory unless seg's directory entry is
// already known durable. FsyncAlways calls it before acknowledging an
// append into a segment, or a crash could lose the whole new file after
// its data was synced. Caller holds mu.
func (l *Log) ensureDurableEntry(seg *segment) error {
	if seg.durableEntry {
		return nil
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("make segment %s durable: %w", seg.path, err)
	}
	seg.durableEntry = true
	return nil
}

// ReadResult holds whole batches returned by Read. Data aliases the
// segment's memory map: it must not be modified, and it stays valid until
// Release, even if retention, Delete or Close removes the segment
// meanwhile (the unmap is deferred to the last Release).
type ReadResult struct {
	// Data is zero or more whole record batches, back to back.
	Data []byte

	m        *mapping
	seg      *segment
	released atomic.Bool
	// tracked is set when Config.OnLeak is: a separate allocation, so the
	// leak check's cleanup can read it without keeping the result alive.
	tracked *atomic.Bool
}

// Release gives up the reference on Data. It is idempotent and safe to call
// from any goroutine; Data must not be used afterwards.
func (r *ReadResult) Release() {
	if r == nil || r.m == nil || !r.released.CompareAndSwap(false, true) {
		return
	}
	if r.tracked != nil {
		r.tracked.Store(true)
	}
	r.m.release()
	r.seg.release()
}

// Read returns whole batches starting with the batch that contains offset,
// at most maxBytes in total but always at least one batch (Kafka's fetch
// rule), never crossing a segment boundary: the caller loops from the next
// offset for more. offset == HighWatermark returns empty Data and a nil
// error; offsets outside [StartOffset, HighWatermark] return
// ErrOffsetOutOfRange. Read does not copy; call Release when done with
// Data. Safe for concurrent use.
func (l *Log) Read(offset int64, maxBytes int) (*ReadResult, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, fmt.Errorf("read %s: %w", l.dir, ErrClosed)
	}
	hw, start := l.active().next, l.segs[0].base
	if offset == hw {
		return &ReadResult{}, nil
	}
	if offset < start || offset > hw {
		return nil, fmt.Errorf("read %s at offset %d: %w: log holds [%d, %d)", l.dir, offset, ErrOffsetOutOfRange, start, hw)
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	seg := l.segs[i]
	pos := seg.seekOffset(offset)
	for pos == seg.size && i+1 < len(l.segs) {
		// offset lies in a gap that recovery left after a damaged
		// segment's tail (or in a segment it emptied): serve from the
		// next segment with data, as Kafka serves the next batch after a
		// gap.
		i++
		seg, pos = l.segs[i], 0
	}
	end, err := seg.span(pos, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("read %s at offset %d: %w", l.dir, offset, err)
	}
	m := seg.acquire()
	r := &ReadResult{Data: m.data[pos:end:end], m: m, seg: seg}
	if l.cfg.OnLeak != nil {
		trackLeak(r, l.cfg.OnLeak)
	}
	return r, nil
}

// HighWatermark returns the next offset to be assigned (single node: the
// high watermark equals the log end offset). Lock-free.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// StartOffset returns the first retained offset. Lock-free.
func (l *Log) StartOffset() int64 { return l.start.Load() }

// Size returns the bytes of batches retained (not the preallocated file
// sizes). Lock-free.
func (l *Log) Size() int64 { return l.size.Load() }

// OffsetForTime returns the offset and timestamp (milliseconds) of the
// first record whose timestamp is >= ts, found through the batch whose
// maxTimestamp is the first >= ts, or ok=false when there is none. The
// special timestamps -1 (latest) and -2 (earliest) are not interpreted
// here; use HighWatermark and StartOffset. Safe for concurrent use.
func (l *Log) OffsetForTime(ts int64) (offset int64, timestamp int64, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, 0, false
	}
	// Segment maxima are not ordered (producers choose timestamps), so
	// this is a linear scan over segments, then an index-guided scan in one.
	for _, seg := range l.segs {
		if seg.size > 0 && seg.maxTs >= ts {
			return seg.seekTime(ts)
		}
	}
	return 0, 0, false
}

// Wait returns a channel closed by the next successful (non-duplicate)
// Append, or by Close (after Close it returns a closed channel). To avoid a lost wakeup, call Wait before checking
// HighWatermark. Cheap: no allocation when a channel is already pending.
func (l *Log) Wait() <-chan struct{} {
	for {
		if p := l.waitCh.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		if l.waitCh.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

// notify wakes the current waiters, if any.
func (l *Log) notify() {
	if p := l.waitCh.Swap(nil); p != nil {
		close(*p)
	}
}

// MaxProducerID returns the largest producer id seen in the retained log
// (kept even after retention deletes its batches while the Log is open), or
// -1 when none, so the broker never reallocates an id after a restart.
func (l *Log) MaxProducerID() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.producers.maxProducerID()
}

// publish refreshes the lock-free getters; caller holds mu.
func (l *Log) publish() {
	var size int64
	for _, s := range l.segs {
		size += s.size
	}
	l.size.Store(size)
	l.start.Store(l.segs[0].base)
	l.hw.Store(l.active().next)
}

// Delete closes the log and removes its directory. Segment files still held
// by a ReadResult are removed at their last Release (and the directory with
// the last of them). Deleting a deleted log returns nil.
func (l *Log) Delete() error {
	if err := l.Close(); err != nil {
		l.log.Warn("storage: close before delete", "err", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		if err := s.doom(l.dir); err != nil {
			return fmt.Errorf("delete %s: %w", l.dir, err)
		}
	}
	entries, err := os.ReadDir(l.dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", l.dir, err)
	}
	for _, e := range entries {
		if isDeletedName(e.Name()) {
			continue // held by a reader; removed at its last Release
		}
		if err := os.RemoveAll(l.dir + string(os.PathSeparator) + e.Name()); err != nil {
			return fmt.Errorf("delete %s: %w", l.dir, err)
		}
	}
	if err := os.Remove(l.dir); err != nil && !os.IsNotExist(err) && !isNotEmpty(l.dir) {
		return fmt.Errorf("delete %s: %w", l.dir, err)
	}
	return nil
}
