// Package storage is the partition log of refbroker: one *Log per
// topic-partition, stored as a directory of preallocated, mmap'd segment
// files holding Kafka v2 record batches byte for byte.
//
// Main types: Log (Open, Append, Read, retention, Sync, Close, Delete),
// Config (Default, Validate), ReadResult (zero-copy read data with a
// reference that must be released) and AppendResult.
//
// A partition directory holds segment files (NNN.log, NNN = base offset),
// their sparse index files (NNN.index), producer-state snapshots
// (NNN.snapshot), a recovery-point checkpoint and a clean-shutdown marker.
// Index files and snapshots only make Open faster; Open falls back to
// reading batch headers when they are missing or do not match.
//
// Contract in short (docs/storage.md has the on-disk format and the full
// recovery contract):
//   - Append copies the batch; Read returns slices of the memory map that
//     stay valid until ReadResult.Release, whatever happens to the segment.
//   - Offsets increase: HighWatermark is the next offset, StartOffset the
//     first retained one; every offset in between is readable except the
//     gaps recovery leaves where it cut a damaged segment's tail (Read
//     skips them). No offset is handed out twice.
//   - Errors wrap the sentinels in errors.go; match them with errors.Is.
//   - After a crash Open keeps every intact batch before the damage in
//     each segment (durable data per the Fsync policy); damage costs the
//     damaged segment's tail only. Reads bounds-check every header and
//     CRC-check each segment once, so a batch damaged later is reported
//     (ErrCorruptBatch), never served, and never panics or loops.
//
// Durability: every fsync, msync, directory sync, rename and file creation
// goes through Config.FS, the crash seam of refbroker/internal/fsys (the
// real OS unless a test sets a Recorder); small files are replaced with
// fsys.WriteFile. crash_test.go checks, on crash clones, that the recovery
// point never covers unsynced bytes and that FsyncAlways appends survive
// a power loss.
//
// Concurrency: every method of Log is safe for concurrent use. Locks are
// taken in the order Log.flushMu, Log.mu, segment.lifeMu; segment.check.mu
// is taken under Log.mu and never together with segment.lifeMu.
//
// Linux only (mmap, msync, fallocate); other platforms get ErrUnsupported.
package storage
