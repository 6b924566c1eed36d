//go:build !linux

package storage

import (
	"fmt"
	"os"
)

// The storage relies on Linux mmap, msync, fallocate and fdatasync
// semantics; other platforms fail Open with ErrUnsupported rather than
// silently behaving differently.

func mmapFile(f *os.File, size int64, writable bool) ([]byte, error) {
	return nil, fmt.Errorf("mmap %s: %w: refbroker storage needs linux", f.Name(), ErrUnsupported)
}

func munmap(b []byte) error { return nil }

func preallocate(f *os.File, size int64) error {
	return fmt.Errorf("preallocate %s: %w: refbroker storage needs linux", f.Name(), ErrUnsupported)
}

func pwriteBatch(f *os.File, hdr, rest []byte, pos int64) error {
	return fmt.Errorf("write %s: %w: refbroker storage needs linux", f.Name(), ErrUnsupported)
}
