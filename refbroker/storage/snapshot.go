package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/brokerbench/brokerbench/refbroker/internal/fsys"
)

// Producer-state snapshots (NNN.snapshot, NNN = the offset they describe:
// every batch below it is applied) are written at each segment roll and at
// Close, so Open can start producer state there instead of hopping every
// header of the retained log. Like index files they are an optimisation:
// missing, corrupt or non-matching snapshots mean a full header hop.
const (
	snapshotSuffix = ".snapshot"
	snapshotMagic  = "BBPS0001"
)

func snapshotPath(dir string, offset int64) string {
	return filepath.Join(dir, fmt.Sprintf("%0*d%s", segmentNameDigits, offset, snapshotSuffix))
}

// encode serialises p as of offset: magic, offset, maxID, producer count,
// then per producer id, epoch, history length and history (oldest first),
// and a CRC-32C of everything before it.
func (p *producerState) encode(offset int64) []byte {
	be := binary.BigEndian
	b := make([]byte, 0, 32+len(p.producers)*(16+producerHistory*16))
	b = append(b, snapshotMagic...)
	b = be.AppendUint64(b, uint64(offset))
	b = be.AppendUint64(b, uint64(p.maxID))
	b = be.AppendUint32(b, uint32(len(p.producers)))
	for id, e := range p.producers {
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint16(b, uint16(e.epoch))
		b = append(b, byte(e.n))
		for i := range e.n {
			m := e.batches[(e.head-e.n+1+i+producerHistory)%producerHistory]
			b = be.AppendUint32(b, uint32(m.firstSeq))
			b = be.AppendUint32(b, uint32(m.lastSeq))
			b = be.AppendUint64(b, uint64(m.baseOffset))
		}
	}
	return be.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeSnapshot parses a snapshot file written by encode.
func decodeSnapshot(b []byte) (offset int64, p producerState, err error) {
	be := binary.BigEndian
	if len(b) < len(snapshotMagic)+20+4 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return 0, p, errors.New("snapshot too short or wrong magic")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != be.Uint32(b[len(b)-4:]) {
		return 0, p, errors.New("snapshot crc mismatch")
	}
	r := body[len(snapshotMagic):]
	offset, p = int64(be.Uint64(r)), newProducerState()
	p.maxID = int64(be.Uint64(r[8:]))
	count := int(be.Uint32(r[16:]))
	r = r[20:]
	for range count {
		if len(r) < 11 {
			return 0, p, errors.New("snapshot truncated")
		}
		id, e := int64(be.Uint64(r)), &producerEntry{epoch: int16(be.Uint16(r[8:]))}
		n := int(r[10])
		r = r[11:]
		if n < 1 || n > producerHistory || len(r) < n*16 {
			return 0, p, errors.New("snapshot producer history malformed")
		}
		for range n {
			e.push(batchMeta{firstSeq: int32(be.Uint32(r)), lastSeq: int32(be.Uint32(r[4:])), baseOffset: int64(be.Uint64(r[8:]))})
			r = r[16:]
		}
		p.producers[id] = e
	}
	if len(r) != 0 {
		return 0, p, errors.New("snapshot has trailing bytes")
	}
	return offset, p, nil
}

// writeSnapshot persists a producer snapshot encoded as of offset (temp
// file, fsync, rename) and prunes the snapshots below keepFrom that a
// future Open can no longer use (see Log.snapshotKeepFrom); the new one is
// always kept. It touches only files, so it needs no lock; callers
// serialise it through Log.flushMu (or hold Log.mu during Open and Close).
func (l *Log) writeSnapshot(offset int64, encoded []byte, keepFrom int64) error {
	path := snapshotPath(l.dir, offset)
	// No directory sync, as for index files: snapshots are optional.
	if err := fsys.WriteFile(l.fs, path, encoded, fsys.WriteOptions{NoDirSync: true}); err != nil {
		return fmt.Errorf("write producer snapshot %s: %w", path, err)
	}
	offsets, err := listSnapshots(l.dir)
	if err != nil {
		return err
	}
	for _, off := range offsets {
		if off < keepFrom && off != offset {
			if err := os.Remove(snapshotPath(l.dir, off)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("prune producer snapshot: %w", err)
			}
		}
	}
	return nil
}

// readSnapshot loads the snapshot for exactly offset; ok=false if there is
// none or it is unusable.
func readSnapshot(dir string, offset int64) (producerState, bool) {
	b, err := os.ReadFile(snapshotPath(dir, offset))
	if err != nil {
		return producerState{}, false
	}
	off, p, err := decodeSnapshot(b)
	if err != nil || off != offset {
		return producerState{}, false
	}
	return p, true
}

// listSnapshots returns the offsets of the snapshot files in dir, ascending.
func listSnapshots(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list producer snapshots: %w", err)
	}
	var offsets []int64
	for _, e := range entries {
		digits, ok := strings.CutSuffix(e.Name(), snapshotSuffix)
		if !ok || len(digits) != segmentNameDigits {
			continue
		}
		if off, err := strconv.ParseInt(digits, 10, 64); err == nil && off >= 0 {
			offsets = append(offsets, off)
		}
	}
	slices.Sort(offsets)
	return offsets, nil
}
