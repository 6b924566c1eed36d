package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/brokerbench/brokerbench/refbroker/internal/fsys"
)

// Index files (NNN.index, NNN = segment base) persist a sealed segment's
// sparse index and bounds so Open can skip reading its batch headers. They
// are an optimisation: Open trusts one only for a segment wholly before the
// recovery point (or after a clean Close) and only when its CRC, base and
// size match the segment file, and falls back to hopping the headers
// otherwise.
const (
	indexSuffix     = ".index"
	indexMagic      = "BBIX0001"
	indexHeaderSize = len(indexMagic) + 4*8 + 4
	indexEntrySize  = 16
)

func indexPath(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%0*d%s", segmentNameDigits, base, indexSuffix))
}

// encodeIndex serialises s's bounds and sparse index: magic, base, size,
// next, maxTs, entry count, entries, CRC-32C of everything before it.
func (s *segment) encodeIndex() []byte {
	be := binary.BigEndian
	b := make([]byte, 0, indexHeaderSize+indexEntrySize*len(s.index.entries)+4)
	b = append(b, indexMagic...)
	b = be.AppendUint64(b, uint64(s.base))
	b = be.AppendUint64(b, uint64(s.size))
	b = be.AppendUint64(b, uint64(s.next))
	b = be.AppendUint64(b, uint64(s.maxTs))
	b = be.AppendUint32(b, uint32(len(s.index.entries)))
	for _, e := range s.index.entries {
		b = be.AppendUint32(b, e.relOffset)
		b = be.AppendUint32(b, e.pos)
		b = be.AppendUint64(b, uint64(e.maxTsBefore))
	}
	return be.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// writeIndexFile persists the encoded index of the segment at base (temp
// file, fsync, rename). The caller marks the segment indexed, under
// Log.mu. It touches only the file, so it needs no lock, but callers hold
// Log.flushMu or Log.mu so retention cannot remove the segment meanwhile.
//
// The directory is not synced here: the flusher syncs it afterwards, and a
// lost index file only makes the next Open read headers.
func writeIndexFile(files fsys.FS, dir string, base int64, encoded []byte) error {
	path := indexPath(dir, base)
	if err := fsys.WriteFile(files, path, encoded, fsys.WriteOptions{NoDirSync: true}); err != nil {
		return fmt.Errorf("write index %s: %w", path, err)
	}
	return nil
}

// removeIndexFile deletes the index of the segment at base, e.g. because the
// segment becomes writable again or is dropped.
func removeIndexFile(dir string, base int64) error {
	if err := os.Remove(indexPath(dir, base)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove index of segment %d: %w", base, err)
	}
	return nil
}

// loadIndexFile fills s (mapped read-only at its file size) from its index
// file. It checks the CRC, that base and size match the file, that entries
// are in order and inside the data, and hops the headers after the last
// entry (at most about one index interval) to confirm the recorded end and
// next offset. On any mismatch it returns an error and leaves s untouched.
func loadIndexFile(dir string, s *segment) error {
	b, err := os.ReadFile(indexPath(dir, s.base))
	if err != nil {
		return err
	}
	be := binary.BigEndian
	if len(b) < indexHeaderSize+4 || string(b[:len(indexMagic)]) != indexMagic {
		return errors.New("index file too short or wrong magic")
	}
	body, sum := b[:len(b)-4], be.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return errors.New("index file crc mismatch")
	}
	h := body[len(indexMagic):]
	base, size, next, maxTs := int64(be.Uint64(h)), int64(be.Uint64(h[8:])), int64(be.Uint64(h[16:])), int64(be.Uint64(h[24:]))
	count := int(be.Uint32(h[32:]))
	if base != s.base || size != int64(len(s.m.data)) || next < base || len(body) != indexHeaderSize+count*indexEntrySize {
		return fmt.Errorf("index file does not match segment (base %d size %d next %d, file %d bytes)", base, size, next, len(s.m.data))
	}
	if (size > 0 && count == 0) || (size == 0 && (count != 0 || next != base)) {
		return errors.New("index file entries do not match the segment size")
	}
	entries := make([]indexEntry, count)
	prev := indexEntry{maxTsBefore: math.MinInt64}
	for i := range entries {
		e := body[indexHeaderSize+i*indexEntrySize:]
		entries[i] = indexEntry{relOffset: be.Uint32(e), pos: be.Uint32(e[4:]), maxTsBefore: int64(be.Uint64(e[8:]))}
		if i > 0 && (entries[i].pos <= prev.pos || entries[i].relOffset <= prev.relOffset || entries[i].maxTsBefore < prev.maxTsBefore) {
			return errors.New("index file entries out of order")
		}
		if int64(entries[i].pos)+batchHeaderSize > size {
			return errors.New("index file entry past end of segment")
		}
		prev = entries[i]
	}
	if err := checkIndexTail(s, entries, size, next); err != nil {
		return err
	}
	s.index.entries, s.size, s.next, s.maxTs, s.indexed = entries, size, next, maxTs, true
	return nil
}

// checkIndexTail hops from the last index entry to the recorded end of data
// and checks the recorded next offset, so a stale or mismatched index file
// is rejected without reading the whole segment.
func checkIndexTail(s *segment, entries []indexEntry, size, next int64) error {
	if size == 0 {
		return nil
	}
	if size < batchHeaderSize || size > int64(len(s.m.data)) {
		return fmt.Errorf("index says %d bytes of data, the segment file has %d", size, len(s.m.data))
	}
	if first := parseHeader(s.m.data); first.BaseOffset != s.base {
		return fmt.Errorf("first batch has offset %d, segment base %d", first.BaseOffset, s.base)
	}
	last := entries[len(entries)-1]
	pos, want := int64(last.pos), s.base+int64(last.relOffset)
	for pos < size {
		if pos+batchHeaderSize > size {
			return errors.New("index tail: partial header")
		}
		h := parseHeader(s.m.data[pos:])
		if h.BaseOffset != want || h.BatchLength < minBatchLength || h.LastOffsetDelta < 0 || pos+h.Size() > size {
			return fmt.Errorf("index tail: batch at %d does not continue the index", pos)
		}
		pos, want = pos+h.Size(), h.LastOffset()+1
	}
	if pos != size || want != next {
		return fmt.Errorf("index tail: data ends at %d offset %d, index says %d offset %d", pos, want, size, next)
	}
	return nil
}
