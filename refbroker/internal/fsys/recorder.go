package fsys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// OpKind names an FS operation in a Recorder's op log.
type OpKind string

// The operations a Recorder sees.
const (
	OpOpen      OpKind = "open"
	OpSync      OpKind = "fsync"
	OpSyncRange OpKind = "msync"
	OpSyncDir   OpKind = "syncdir"
	OpRename    OpKind = "rename"
	OpLink      OpKind = "link"
	OpMkdir     OpKind = "mkdir"
)

// Op is one operation: its kind, the path it acts on (the file's name
// when it was opened, for syncs), the target of a rename or link, and the
// byte range of a SyncRange.
type Op struct {
	Kind     OpKind
	Path, To string
	From, N  int64
}

func (o Op) String() string {
	switch o.Kind {
	case OpRename, OpLink:
		return fmt.Sprintf("%s %s -> %s", o.Kind, o.Path, o.To)
	case OpSyncRange:
		return fmt.Sprintf("%s %s [%d, %d)", o.Kind, o.Path, o.From, o.From+o.N)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Path)
}

// ErrInjected is the error a Recorder's Fail hook usually returns; any
// error works.
var ErrInjected = errors.New("injected fault")

// Recorder is an FS for tests. It performs every operation on the real
// files (so mmap works) and keeps, in memory, what a crash would leave:
// for each file the bytes and size as of its last sync, and for each
// directory the entries as of its last SyncDir. CrashClone writes that
// state out as a directory tree: the files as if the machine lost power
// right now and the kernel had written back nothing unsynced, the
// harshest outcome a power loss may have.
//
// A Recorder covers files under its root. Files created behind its back
// (not through OpenFile) count as never synced until they are.
type Recorder struct {
	// Fail, if set, is asked before each operation; a non-nil error fails
	// the operation with that error and without effect (errorfs).
	Fail func(Op) error
	// After, if set, is called after each successful operation, outside
	// the Recorder's lock: a test can take a CrashClone there, at every
	// point where a crash could happen.
	After func(Op)

	root string
	base FS // performs the operations
	mu   sync.Mutex
	ops  []Op
	next int                         // next file id
	ino  map[uint64]int              // live inode -> file id
	data map[int][]byte              // file id -> durable contents (len = durable size)
	dirs map[string]map[string]entry // durable entries per directory
}

// entry is one durable directory entry: a subdirectory or a file id.
type entry struct {
	dir bool
	id  int
}

var _ FS = (*Recorder)(nil)

// NewRecorder returns a Recorder whose starting point is everything under
// root as it is now, taken as durable. base performs the operations: OS,
// or NoSync for tests that need the model, not the disk, to be durable.
func NewRecorder(root string, base FS) (*Recorder, error) {
	root = filepath.Clean(root)
	r := &Recorder{root: root, base: Or(base), ino: map[uint64]int{}, data: map[int][]byte{}, dirs: map[string]map[string]entry{}}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return r.snapshotDir(path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recorder: walk %s: %w", root, err)
	}
	// Existing files are durable as they are.
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		id, err := r.idOfPath(path)
		if err != nil {
			return err
		}
		r.data[id] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recorder: read %s: %w", root, err)
	}
	return r, nil
}

// Ops returns the operations performed so far, in order.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// do runs one operation: the Fail hook, then fn (with the lock held, so
// that recording stays in order with the real effect), then After.
func (r *Recorder) do(op Op, fn func() error) error {
	if r.Fail != nil {
		if err := r.Fail(op); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	r.mu.Lock()
	err := fn()
	if err == nil {
		r.ops = append(r.ops, op)
	}
	r.mu.Unlock()
	if err == nil && r.After != nil {
		r.After(op)
	}
	return err
}

// OpenFile opens as os.OpenFile; a file it creates gets a new identity
// with no durable contents (even if its inode number was used before).
func (r *Recorder) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	var f *os.File
	err := r.do(Op{Kind: OpOpen, Path: name}, func() error {
		_, statErr := os.Lstat(name)
		var err error
		if f, err = r.base.OpenFile(name, flag, perm); err != nil {
			return err
		}
		if flag&os.O_CREATE != 0 && errors.Is(statErr, fs.ErrNotExist) {
			ino, err := inodeOf(f.Stat())
			if err != nil {
				f.Close()
				return err
			}
			r.ino[ino] = r.newID()
		}
		return nil
	})
	return f, err
}

// Sync fsyncs f and records its whole contents and size as durable.
func (r *Recorder) Sync(f *os.File) error {
	return r.do(Op{Kind: OpSync, Path: f.Name()}, func() error {
		if err := r.base.Sync(f); err != nil {
			return err
		}
		// Read through /proc so that write-only descriptors work too.
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
		if err != nil {
			return fmt.Errorf("recorder: read back %s: %w", f.Name(), err)
		}
		id, err := r.idOf(f)
		if err != nil {
			return err
		}
		r.data[id] = b
		return nil
	})
}

// SyncRange msyncs m[from:to] and records those bytes, and the file's
// current size, as durable. Bytes outside the range keep their durable
// contents (zeros where never synced).
func (r *Recorder) SyncRange(f *os.File, m []byte, from, to int64) error {
	return r.do(Op{Kind: OpSyncRange, Path: f.Name(), From: from, N: to - from}, func() error {
		if err := r.base.SyncRange(f, m, from, to); err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			return err
		}
		id, err := r.idOf(f)
		if err != nil {
			return err
		}
		d := resize(r.data[id], st.Size())
		if to > from {
			copy(d[from:min(to, int64(len(d)))], m[from:to])
		}
		r.data[id] = d
		return nil
	})
}

// resize returns d cut or zero-extended to n bytes.
func resize(d []byte, n int64) []byte {
	if int64(len(d)) >= n {
		return d[:n]
	}
	return append(d, make([]byte, n-int64(len(d)))...)
}

// SyncDir fsyncs dir and records its current entries as durable.
func (r *Recorder) SyncDir(dir string) error {
	return r.do(Op{Kind: OpSyncDir, Path: dir}, func() error {
		if err := r.base.SyncDir(dir); err != nil {
			return err
		}
		return r.snapshotDir(dir)
	})
}

// Rename renames; the durable entries change only at SyncDir.
func (r *Recorder) Rename(from, to string) error {
	return r.do(Op{Kind: OpRename, Path: from, To: to}, func() error { return r.base.Rename(from, to) })
}

// Link links; the durable entries change only at SyncDir.
func (r *Recorder) Link(from, to string) error {
	return r.do(Op{Kind: OpLink, Path: from, To: to}, func() error { return r.base.Link(from, to) })
}

// Mkdir makes a directory; it is durable once its parent is synced.
func (r *Recorder) Mkdir(dir string, perm fs.FileMode) error {
	return r.do(Op{Kind: OpMkdir, Path: dir}, func() error { return r.base.Mkdir(dir, perm) })
}

// snapshotDir records dir's current entries as its durable ones. Caller
// holds mu (or is NewRecorder).
func (r *Recorder) snapshotDir(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("recorder: list %s: %w", dir, err)
	}
	entries := make(map[string]entry, len(des))
	for _, de := range des {
		switch {
		case de.IsDir():
			entries[de.Name()] = entry{dir: true}
		case de.Type().IsRegular():
			id, err := r.idOfPath(filepath.Join(dir, de.Name()))
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			} else if err != nil {
				return err
			}
			entries[de.Name()] = entry{id: id}
		}
	}
	r.dirs[filepath.Clean(dir)] = entries
	return nil
}

func (r *Recorder) newID() int {
	r.next++
	r.data[r.next] = []byte{}
	return r.next
}

// idOf returns the identity of an open file. Caller holds mu.
func (r *Recorder) idOf(f *os.File) (int, error) {
	ino, err := inodeOf(f.Stat())
	if err != nil {
		return 0, err
	}
	return r.idOfIno(ino), nil
}

// idOfPath returns the identity of the file at path. Caller holds mu.
func (r *Recorder) idOfPath(path string) (int, error) {
	ino, err := inodeOf(os.Lstat(path))
	if err != nil {
		return 0, err
	}
	return r.idOfIno(ino), nil
}

func (r *Recorder) idOfIno(ino uint64) int {
	id, ok := r.ino[ino]
	if !ok {
		id = r.newID() // created behind the Recorder's back: nothing synced yet
		r.ino[ino] = id
	}
	return id
}

func inodeOf(st fs.FileInfo, err error) (uint64, error) {
	if err != nil {
		return 0, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("recorder: no inode number for %s", st.Name())
	}
	return sys.Ino, nil
}

// CrashClone writes to dst (which must not exist) the tree under the
// root as a crash now would leave it: only durable directory entries,
// each file with only its durable contents and size.
func (r *Recorder) CrashClone(dst string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clone(r.root, dst)
}

func (r *Recorder) clone(src, dst string) error {
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("crash clone: %w", err)
	}
	for name, e := range r.dirs[src] { // a directory never synced is empty
		s, d := filepath.Join(src, name), filepath.Join(dst, name)
		if e.dir {
			if err := r.clone(s, d); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(d, r.data[e.id], 0o644); err != nil {
			return fmt.Errorf("crash clone: %w", err)
		}
	}
	return nil
}

// NoSync is OS with every sync a no-op, for tests only: under a Recorder,
// durability is the Recorder's model, so the disk need not be waited for,
// and a crash image can be recovered without paying for its syncs. Never
// use it for data that must survive a real crash.
type NoSync struct{ OS }

// Sync does nothing.
func (NoSync) Sync(*os.File) error { return nil }

// SyncRange does nothing.
func (NoSync) SyncRange(*os.File, []byte, int64, int64) error { return nil }

// SyncDir does nothing.
func (NoSync) SyncDir(string) error { return nil }
