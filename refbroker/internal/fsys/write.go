package fsys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotDurable marks a WriteFile error after the rename: the new file is
// in place (readers see it) but the directory sync failed, so a crash may
// still bring back the old one. A caller holding the old file open must
// treat it as replaced.
var ErrNotDurable = errors.New("file replaced but not durable")

// WriteOptions are the deliberate differences between the users of
// WriteFile. The zero value is the full sequence: write path+".tmp",
// fsync it, rename it over path, fsync the directory.
type WriteOptions struct {
	// Backup, when set, keeps the file being replaced under this name
	// (hard-linked to Backup+".tmp" and renamed over Backup) before the
	// rename, so that damage to the new file costs at most one
	// generation. Nothing is kept when path does not exist yet.
	Backup string
	// NoDirSync skips the directory fsync. For files whose previous
	// version is still a correct state after a crash (a recovery point,
	// an optional index), or whose directory the caller syncs later
	// anyway: a crash may then undo the rename, never tear the file.
	NoDirSync bool
	// Perm is the new file's permission; default 0o644.
	Perm fs.FileMode
}

// WriteFile atomically replaces path with data: write a temporary file
// (path+".tmp"), fsync it, optionally keep a backup generation, rename it
// over path and, unless opts.NoDirSync, fsync the directory. A crash at any
// point leaves path either wholly old or wholly new, never torn. Callers
// serialise writes of the same path (the temporary name is fixed, so an
// interrupted write's leftover is simply overwritten).
func WriteFile(fsys FS, path string, data []byte, opts WriteOptions) error {
	if opts.Perm == 0 {
		opts.Perm = 0o644
	}
	tmp := path + ".tmp"
	if err := writeSynced(fsys, tmp, data, opts.Perm); err != nil {
		return err
	}
	if opts.Backup != "" {
		if err := keepBackup(fsys, path, opts.Backup); err != nil {
			_ = os.Remove(tmp)
			return err
		}
	}
	if err := fsys.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	if opts.NoDirSync {
		return nil
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNotDurable, path, err)
	}
	return nil
}

// writeSynced creates (or truncates) name with data and fsyncs it. A
// file it created is removed again on failure; whatever blocks the name
// (another process's file, a directory) is left alone.
func writeSynced(fsys FS, name string, data []byte, perm fs.FileMode) error {
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	fail := func(what string, err error) error {
		_ = f.Close()
		_ = os.Remove(name)
		return fmt.Errorf("%s %s: %w", what, name, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail("write", err)
	}
	if err := fsys.Sync(f); err != nil {
		return fail("fsync", err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("close %s: %w", name, err)
	}
	return nil
}

// keepBackup makes backup a copy of cur (a hard link, replaced
// atomically), if cur exists.
func keepBackup(fsys FS, cur, backup string) error {
	tmp := backup + ".tmp"
	_ = os.Remove(tmp)
	if err := fsys.Link(cur, tmp); errors.Is(err, fs.ErrNotExist) {
		return nil // first write: nothing to keep
	} else if err != nil {
		return fmt.Errorf("keep backup %s: %w", backup, err)
	}
	if err := fsys.Rename(tmp, backup); err != nil {
		return fmt.Errorf("keep backup %s: %w", backup, err)
	}
	return nil
}

// MkdirAll creates dir and any missing parents, as os.MkdirAll, and makes
// each created directory durable by syncing its parent: without that a
// crash can lose a new directory, and every file synced inside it, even
// though their own syncs succeeded.
func MkdirAll(fsys FS, dir string, perm fs.FileMode) error {
	st, err := os.Stat(dir)
	if err == nil {
		if !st.IsDir() {
			return fmt.Errorf("mkdir %s: not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(fsys, parent, perm); err != nil {
			return err
		}
	}
	if err := fsys.Mkdir(dir, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	if err := fsys.SyncDir(parent); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return nil
}

// CreateSynced creates name empty (or truncates it), fsyncs it and syncs
// its directory: a durable marker file whose presence is the message.
func CreateSynced(fsys FS, name string) error {
	if err := writeSynced(fsys, name, nil, 0o644); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(name))
}
