package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/brokerbench/brokerbench/refbroker/internal/fsys"
)

const (
	// cleanMarkerName is created by Close after everything is synced and
	// removed by Open before the first write: its presence means the files
	// are exactly as a clean Close left them.
	cleanMarkerName = "clean-shutdown"
	// checkpointName holds the recovery point: everything before it is
	// durable and need not be CRC-checked after a crash.
	checkpointName  = "recovery-point"
	checkpointMagic = "BBRP0001"
	checkpointSize  = len(checkpointMagic) + 8 + 8 + 4
)

// recoveryPoint is a durable position: all batches of segments before
// segment base, and of that segment before pos, were synced.
type recoveryPoint struct {
	base int64 // base offset of the segment
	pos  int64 // byte position within it
}

// encode returns the checkpoint file contents: magic, base, pos and a
// CRC-32C of the preceding bytes so a torn write is detected.
func (rp recoveryPoint) encode() []byte {
	b := make([]byte, 0, checkpointSize)
	b = append(b, checkpointMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(rp.base))
	b = binary.BigEndian.AppendUint64(b, uint64(rp.pos))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeRecoveryPoint(b []byte) (recoveryPoint, error) {
	if len(b) != checkpointSize || string(b[:len(checkpointMagic)]) != checkpointMagic {
		return recoveryPoint{}, fmt.Errorf("bad recovery point: %d bytes or wrong magic", len(b))
	}
	body := b[:checkpointSize-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[checkpointSize-4:]) {
		return recoveryPoint{}, errors.New("bad recovery point: crc mismatch")
	}
	rp := recoveryPoint{
		base: int64(binary.BigEndian.Uint64(body[len(checkpointMagic):])),
		pos:  int64(binary.BigEndian.Uint64(body[len(checkpointMagic)+8:])),
	}
	if rp.base < 0 || rp.pos < 0 {
		return recoveryPoint{}, fmt.Errorf("bad recovery point: negative base %d or pos %d", rp.base, rp.pos)
	}
	return rp, nil
}

// readRecoveryPoint loads the checkpoint; ok=false when it is missing or
// unreadable, in which case recovery validates the whole log.
func readRecoveryPoint(dir string) (recoveryPoint, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if errors.Is(err, fs.ErrNotExist) {
		return recoveryPoint{}, false, nil
	}
	if err != nil {
		return recoveryPoint{}, false, fmt.Errorf("read recovery point: %w", err)
	}
	rp, err := decodeRecoveryPoint(b)
	if err != nil {
		return recoveryPoint{}, false, err
	}
	return rp, true, nil
}

// writeRecoveryPoint replaces the checkpoint atomically (write temp, fsync,
// rename). The directory is not synced: if the rename is lost in a crash the
// previous checkpoint, an earlier and still-durable position, is used.
func writeRecoveryPoint(files fsys.FS, dir string, rp recoveryPoint) error {
	if err := fsys.WriteFile(files, filepath.Join(dir, checkpointName), rp.encode(), fsys.WriteOptions{NoDirSync: true}); err != nil {
		return fmt.Errorf("write recovery point: %w", err)
	}
	return nil
}

// hasCleanMarker reports whether the last Close completed.
func hasCleanMarker(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, cleanMarkerName))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat clean-shutdown marker: %w", err)
	}
	return true, nil
}

// writeCleanMarker durably records a clean shutdown.
func writeCleanMarker(files fsys.FS, dir string) error {
	if err := fsys.CreateSynced(files, filepath.Join(dir, cleanMarkerName)); err != nil {
		return fmt.Errorf("write clean-shutdown marker: %w", err)
	}
	return nil
}

// removeCleanMarker durably removes the marker before the log is modified,
// so a crash from here on triggers recovery.
func removeCleanMarker(files fsys.FS, dir string) error {
	err := os.Remove(filepath.Join(dir, cleanMarkerName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove clean-shutdown marker: %w", err)
	}
	return files.SyncDir(dir)
}
