//go:build !linux

package fsys

import (
	"errors"
	"os"
)

// errUnsupported is returned by OS.SyncRange off Linux: refbroker's storage
// relies on Linux mmap and msync semantics.
var errUnsupported = errors.New("msync: refbroker storage needs linux")

// SyncRange is not available off Linux.
func (OS) SyncRange(_ *os.File, _ []byte, _, _ int64) error { return errUnsupported }

// SyncDir is a no-op off Linux, where directories cannot be fsynced
// portably.
func (OS) SyncDir(string) error { return nil }
