//go:build linux

package storage

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mmapFile maps the first size bytes of f shared, read-write or read-only.
// size must not exceed the file size: touching a page past the end of file
// raises SIGBUS, which Go cannot turn into an error.
func mmapFile(f *os.File, size int64, writable bool) ([]byte, error) {
	if size <= 0 {
		return nil, nil
	}
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s (%d bytes): %w", f.Name(), size, err)
	}
	return b, nil
}

// munmap unmaps b (a nil b is a no-op).
func munmap(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.Munmap(b)
}

// preallocate makes f exactly size bytes long with blocks reserved. Real
// blocks matter for mmap: writing to a hole of a sparse file on a full disk
// raises SIGBUS instead of returning ENOSPC. Filesystems without fallocate
// get a sparse ftruncate instead.
func preallocate(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncate %s to %d: %w", f.Name(), size, err)
	}
	if size == 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err != nil && !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("fallocate %s (%d bytes): %w", f.Name(), size, err)
	}
	return nil
}

// pwriteBatch writes hdr then rest to f at pos with one pwritev, finishing
// a short write with WriteAt.
func pwriteBatch(f *os.File, hdr, rest []byte, pos int64) error {
	n, err := unix.Pwritev(int(f.Fd()), [][]byte{hdr, rest}, pos)
	if err != nil {
		return fmt.Errorf("pwritev %s at %d: %w", f.Name(), pos, err)
	}
	for total := len(hdr) + len(rest); n < total; {
		b := rest[max(n-len(hdr), 0):]
		if n < len(hdr) {
			b = hdr[n:]
		}
		m, err := f.WriteAt(b, pos+int64(n))
		if err != nil {
			return err
		}
		n += m
	}
	return nil
}
