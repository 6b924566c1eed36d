package fsys

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFileCrashStates checks WriteFile and MkdirAll against the
// Recorder's crash model: what a crash right after each leaves, per
// option, and that a failed step leaves the old file in place.
func TestWriteFileCrashStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts WriteOptions
		fail OpKind // operation to fail, "" for none
		// want is the contents of "f" in the crash clone ("" = absent),
		// wantBackup that of "f.prev".
		want, wantBackup string
		wantErr          bool
	}{
		// The full sequence: the new file survives.
		{name: "default", want: "new"},
		// Without the directory sync the rename may be lost: the old
		// file, complete, is what a crash leaves.
		{name: "no dir sync", opts: WriteOptions{NoDirSync: true}, want: "old"},
		// The backup generation is the replaced file.
		{name: "backup", opts: WriteOptions{Backup: "f.prev"}, want: "new", wantBackup: "old"},
		// A failed fsync of the temp file: nothing replaced.
		{name: "fsync fails", fail: OpSync, want: "old", wantErr: true},
		// A failed rename: nothing replaced.
		{name: "rename fails", fail: OpRename, want: "old", wantErr: true},
		// The directory sync fails after the rename: ErrNotDurable,
		// and a crash may still bring the old file back.
		{name: "dir sync fails", fail: OpSyncDir, want: "old", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, "f"), []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := NewRecorder(root, nil)
			if err != nil {
				t.Fatal(err)
			}
			r.Fail = func(op Op) error {
				if op.Kind == tt.fail {
					return ErrInjected
				}
				return nil
			}
			if tt.opts.Backup != "" {
				tt.opts.Backup = filepath.Join(root, tt.opts.Backup)
			}
			err = WriteFile(r, filepath.Join(root, "f"), []byte("new"), tt.opts)
			if (err != nil) != tt.wantErr || (tt.fail == OpSyncDir && !errors.Is(err, ErrNotDurable)) {
				t.Fatalf("WriteFile: %v, want error %v", err, tt.wantErr)
			}
			clone := filepath.Join(t.TempDir(), "crash")
			if err := r.CrashClone(clone); err != nil {
				t.Fatal(err)
			}
			if got := readOr(t, filepath.Join(clone, "f")); got != tt.want {
				t.Errorf("after crash f = %q, want %q (ops %v)", got, tt.want, r.Ops())
			}
			if got := readOr(t, filepath.Join(clone, "f.prev")); got != tt.wantBackup {
				t.Errorf("after crash f.prev = %q, want %q", got, tt.wantBackup)
			}
		})
	}
}

// TestMkdirAllDurable: a file synced in a new directory survives only
// because MkdirAll synced the parents; os.MkdirAll alone loses it.
func TestMkdirAllDurable(t *testing.T) {
	t.Parallel()
	for _, durable := range []bool{true, false} {
		root := t.TempDir()
		r, err := NewRecorder(root, nil)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, "a", "b")
		if durable {
			err = MkdirAll(r, dir, 0o755)
		} else {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := CreateSynced(r, filepath.Join(dir, "marker")); err != nil {
			t.Fatal(err)
		}
		clone := filepath.Join(t.TempDir(), "crash")
		if err := r.CrashClone(clone); err != nil {
			t.Fatal(err)
		}
		_, err = os.Stat(filepath.Join(clone, "a", "b", "marker"))
		if survived := err == nil; survived != durable {
			t.Errorf("durable mkdir %v: marker survived a crash: %v", durable, survived)
		}
	}
}

func readOr(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
