package framelog

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// faultyFile wraps the log's real file and fails chosen operations.
type faultyFile struct {
	*os.File
	shortWrite   bool // write half of p, then fail
	failSync     bool
	failTruncate bool
}

var errInjected = errors.New("injected I/O error")

func (f *faultyFile) Write(p []byte) (int, error) {
	if f.shortWrite {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, errInjected
	}
	return f.File.Write(p)
}

func (f *faultyFile) Sync() error {
	if f.failSync {
		return errInjected
	}
	return f.File.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	if f.failTruncate {
		return errInjected
	}
	return f.File.Truncate(size)
}

// TestFailedWrites checks the rollback and broken-state contract: a
// failed write that is truncated away is transient and the log stays
// usable; a failed truncate or fsync breaks it for good; and the file
// never holds a half-written frame that would hide later ones.
func TestFailedWrites(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fault      faultyFile
		fsync      bool
		wantBroken bool
		wantAfter  []string // payloads recovered after the fault
	}{
		{"short write rolled back", faultyFile{shortWrite: true}, false, false, []string{"before", "after"}},
		{"short write, truncate fails", faultyFile{shortWrite: true, failTruncate: true}, false, true, nil},
		{"fsync fails", faultyFile{failSync: true}, true, true, nil},
		{"fsync off ignores sync faults", faultyFile{failSync: true}, false, false, []string{"before", "faulted", "after"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "x.log")
			l, _ := openLog(t, path, Options{Fsync: tt.fsync})
			if err := l.Append(frameOf("before")); err != nil {
				t.Fatal(err)
			}
			ff := tt.fault
			ff.File = l.f.(*os.File)
			l.f = &ff
			err := l.Append(frameOf("faulted"))
			faulted := err != nil
			if faulted && !errors.Is(err, errInjected) && !errors.Is(err, ErrBroken) {
				t.Fatalf("faulted append: %v", err)
			}
			if got := errors.Is(err, ErrBroken); got != tt.wantBroken {
				t.Fatalf("faulted append error %v: broken %v, want %v", err, got, tt.wantBroken)
			}
			ff.shortWrite, ff.failSync, ff.failTruncate = false, false, false
			err = l.Append(frameOf("after"))
			if tt.wantBroken {
				if !errors.Is(err, ErrBroken) || l.NeedsCompaction() || !errors.Is(l.Compact(nil), ErrBroken) {
					t.Fatalf("broken log accepted a write: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("append after a transient fault: %v", err)
			}
			if st, _ := os.Stat(path); st.Size() != l.Size() {
				t.Fatalf("file is %d bytes, log thinks %d", st.Size(), l.Size())
			}
			_ = l.Close()
			_, st := openLog(t, path, Options{})
			if got := payloadStrings(st); !slices.Equal(got, tt.wantAfter) {
				t.Fatalf("recovered %q, want %q", got, tt.wantAfter)
			}
		})
	}
}
