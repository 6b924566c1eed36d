package framelog

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// state is what a test log replays into: the payloads, in order.
type state struct{ payloads [][]byte }

func (s *state) replay(p []byte) error {
	if string(p) == "reject" {
		return errors.New("undecodable payload")
	}
	s.payloads = append(s.payloads, slices.Clone(p))
	return nil
}

// snapshot re-frames every payload, as an owner's compaction would.
func (s *state) snapshot() []byte {
	data, _ := encodeAll(s.payloads)
	return data
}

// openLog opens path with opts, replaying into a fresh state, and closes
// the log at cleanup.
func openLog(t *testing.T, path string, opts Options) (*Log, *state) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st := &state{}
	l, err := Open(path, opts, st.replay, st.snapshot)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, st
}

func frameOf(s string) []byte {
	return AppendFrame(nil, func(dst []byte) []byte { return append(dst, s...) })
}

func payloadStrings(st *state) []string {
	var out []string
	for _, p := range st.payloads {
		out = append(out, string(p))
	}
	return out
}

func TestOpenAppendReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "x.log")
	l, st := openLog(t, path, Options{Fsync: true})
	if len(st.payloads) != 0 || l.Size() != 0 || l.Path() != path {
		t.Fatalf("fresh log: %d payloads, size %d, path %s", len(st.payloads), l.Size(), l.Path())
	}
	batch := append(frameOf("one"), frameOf("two")...)
	if err := l.Append(batch); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(frameOf("three")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := l.Append(frameOf("late")); !errors.Is(err, ErrBroken) {
		t.Fatalf("append after close: %v, want ErrBroken", err)
	}
	_, st2 := openLog(t, path, Options{})
	if got := payloadStrings(st2); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("reopened payloads %q", got)
	}
}

// TestOpenDropsTornTailAndCompacts writes a log whose tail is torn, then
// checks recovery: the valid prefix is replayed, a warning names the
// dropped bytes, and the file is rewritten as exactly the snapshot, so new
// appends are not hidden behind the torn frame.
func TestOpenDropsTornTailAndCompacts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tail []byte
	}{
		{"half a frame", frameOf("torn")[:6]},
		{"bit flip", func() []byte { b := frameOf("flipped"); b[len(b)-1] ^= 1; return b }()},
		{"payload replay rejects", frameOf("reject")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "x.log")
			good := append(frameOf("a"), frameOf("b")...)
			if err := os.WriteFile(path, append(slices.Clone(good), tt.tail...), 0o644); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			l, st := openLog(t, path, Options{Name: "test log", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if got := payloadStrings(st); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("recovered %q", got)
			}
			if !strings.Contains(logs.String(), "test log has a torn tail") {
				t.Fatalf("no torn-tail warning in %q", logs.String())
			}
			if data, err := os.ReadFile(path); err != nil || !bytes.Equal(data, good) || l.Size() != int64(len(good)) {
				t.Fatalf("compacted file %x (err %v, size %d), want %x", data, err, l.Size(), good)
			}
			if err := l.Append(frameOf("c")); err != nil {
				t.Fatal(err)
			}
			_ = l.Close()
			_, st2 := openLog(t, path, Options{})
			if got := payloadStrings(st2); !slices.Equal(got, []string{"a", "b", "c"}) {
				t.Fatalf("after recovery and append: %q", got)
			}
		})
	}
}

// TestOpenSkipsDamagedFrames: a damaged frame in the middle costs only
// that frame; the frames after it are replayed and kept.
func TestOpenSkipsDamagedFrames(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.log")
	bad := frameOf("damaged")
	bad[HeaderSize+1] ^= 0x20
	data := slices.Concat(frameOf("a"), bad, frameOf("b"), frameOf("reject"), frameOf("c"))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	l, st := openLog(t, path, Options{Name: "test log", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer l.Close()
	if got := payloadStrings(st); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("recovered %q, want a, b, c", got)
	}
	if !strings.Contains(logs.String(), "damaged frames") {
		t.Fatalf("no warning about the damaged frame in %q", logs.String())
	}
}

func TestNeedsCompaction(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.log")
	l, st := openLog(t, path, Options{CompactMinBytes: 100, CompactRatio: 2})
	f := frameOf(strings.Repeat("p", 42)) // 50 bytes
	for i, want := range []bool{false, false, true} {
		if err := l.Append(f); err != nil {
			t.Fatal(err)
		}
		st.payloads = append(st.payloads, []byte("p"))
		if got := l.NeedsCompaction(); got != want {
			t.Fatalf("after %d appends (%d bytes): NeedsCompaction %v, want %v", i+1, l.Size(), got, want)
		}
	}
	// After compaction the base is 3 small frames (27 bytes): compaction
	// is due again above both 100 bytes and 2x27.
	if err := l.Compact(st.snapshot()); err != nil {
		t.Fatal(err)
	}
	if l.NeedsCompaction() || l.Size() != 27 {
		t.Fatalf("after compaction: size %d, NeedsCompaction %v", l.Size(), l.NeedsCompaction())
	}
	l.SetCompactMinBytes(10)
	if err := l.Append(f); err != nil {
		t.Fatal(err)
	}
	if !l.NeedsCompaction() {
		t.Fatalf("size %d over 10 and 2x27: compaction not due", l.Size())
	}
}

// TestCompactFailureBeforeRenameIsTransient blocks the temp file with a
// directory: compaction fails, the old file stays in use, and it is not
// broken.
func TestCompactFailureBeforeRenameIsTransient(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.log")
	l, _ := openLog(t, path, Options{})
	if err := l.Append(frameOf("kept")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path+".tmp", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(nil); err == nil || errors.Is(err, ErrBroken) {
		t.Fatalf("compact onto a directory: %v, want a transient error", err)
	}
	if err := l.Append(frameOf("more")); err != nil {
		t.Fatalf("append after failed compaction: %v", err)
	}
	_ = l.Close()
	if err := os.Remove(path + ".tmp"); err != nil {
		t.Fatal(err)
	}
	_, st := openLog(t, path, Options{})
	if got := payloadStrings(st); !slices.Equal(got, []string{"kept", "more"}) {
		t.Fatalf("payloads %q", got)
	}
}
