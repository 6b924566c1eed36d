// Package fsys is refbroker's storage crash seam: the file operations whose
// order and success decide what survives a crash (fsync, msync, directory
// sync, rename, link, create) go through the FS interface, and the one
// "write temp, fsync, rename, sync dir" helper, WriteFile, is built on it.
//
// Production code uses OS, the real operating system, through direct calls
// on the hot path (an interface call per sync, nothing per write). Tests
// use Recorder, which wraps OS, remembers what each sync made durable and
// can build the directory a crash would leave behind (everything not yet
// synced dropped), and can fail chosen operations: the model is pebble's
// vfs.NewCrashableMem/CrashClone and errorfs, over real files so that
// mmap keeps working.
//
// Writes themselves (pwrite, stores into a mapping, truncate, fallocate)
// do not go through FS: they change only what is not yet durable, which a
// Recorder reads back from the real file at the next sync.
package fsys

import (
	"io/fs"
	"os"
)

// FS is the narrow set of file operations the durable path needs. Every
// method behaves as its os or unix counterpart; implementations must be
// safe for concurrent use.
type FS interface {
	// OpenFile opens or creates a file, as os.OpenFile.
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	// Sync makes f's contents and size durable (fsync).
	Sync(f *os.File) error
	// SyncRange makes bytes [from, to) of m, a shared mapping of f from
	// offset 0, durable (msync MS_SYNC; from is rounded down to a page).
	SyncRange(f *os.File, m []byte, from, to int64) error
	// SyncDir makes the entries of dir (creates, renames, removes)
	// durable.
	SyncDir(dir string) error
	// Rename renames, as os.Rename; durable only after SyncDir.
	Rename(from, to string) error
	// Link makes a hard link, as os.Link; durable only after SyncDir.
	Link(from, to string) error
	// Mkdir makes one directory, as os.Mkdir; durable only after
	// SyncDir of its parent.
	Mkdir(dir string, perm fs.FileMode) error
}

// OS is the real operating system.
type OS struct{}

var _ FS = OS{}

// OpenFile is os.OpenFile.
func (OS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

// Sync is f.Sync (fsync).
func (OS) Sync(f *os.File) error { return f.Sync() }

// Rename is os.Rename.
func (OS) Rename(from, to string) error { return os.Rename(from, to) }

// Link is os.Link.
func (OS) Link(from, to string) error { return os.Link(from, to) }

// Mkdir is os.Mkdir.
func (OS) Mkdir(dir string, perm fs.FileMode) error { return os.Mkdir(dir, perm) }

// Or returns f, or OS when f is nil.
func Or(f FS) FS {
	if f == nil {
		return OS{}
	}
	return f
}
