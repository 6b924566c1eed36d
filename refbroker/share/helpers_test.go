package share

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeTopics is an in-memory Topics: topics by name with partition
// counts and per-partition bounds the test moves.
type fakeTopics struct {
	mu     sync.Mutex
	ids    map[string][16]byte
	parts  map[[16]byte]int32
	bounds map[tp][2]int64
}

func newFakeTopics() *fakeTopics {
	return &fakeTopics{ids: map[string][16]byte{}, parts: map[[16]byte]int32{}, bounds: map[tp][2]int64{}}
}

// add creates topic name with n partitions, each holding [0, hw).
func (f *fakeTopics) add(name string, n int32, hw int64) [16]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	var id [16]byte
	copy(id[:], name)
	id[15] = 1
	f.ids[name], f.parts[id] = id, n
	for p := range n {
		f.bounds[tp{id, p}] = [2]int64{0, hw}
	}
	return id
}

func (f *fakeTopics) TopicByName(name string) ([16]byte, int32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.ids[name]
	return id, f.parts[id], ok
}

func (f *fakeTopics) TopicByID(id [16]byte) (string, int32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, tid := range f.ids {
		if tid == id {
			return name, f.parts[id], true
		}
	}
	return "", 0, false
}

func (f *fakeTopics) Bounds(id [16]byte, p int32) (int64, int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bounds[tp{id, p}]
	return b[0], b[1], ok
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newCoordinator opens a Coordinator on cfg (Topics and Now default to
// fakes; Logger is silent) and closes it at cleanup.
func newCoordinator(t testing.TB, cfg Config) *Coordinator {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}
