//go:build linux

package fsys

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// SyncRange msyncs the pages of m covering [from, to).
func (OS) SyncRange(_ *os.File, m []byte, from, to int64) error {
	if to <= from || len(m) == 0 {
		return nil
	}
	page := int64(os.Getpagesize())
	from -= from % page
	if err := unix.Msync(m[from:to], unix.MS_SYNC); err != nil {
		return fmt.Errorf("msync [%d, %d): %w", from, to, err)
	}
	return nil
}

// SyncDir opens dir and fsyncs it.
func (OS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s for sync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
