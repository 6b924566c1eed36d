package refbroker

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/refbroker/internal/leakcheck"
)

// testLogger returns a logger that is quiet unless REFBROKER_TEST_LOG is
// set, so failures can be debugged without flooding normal runs.
func testLogger() *slog.Logger {
	if os.Getenv("REFBROKER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newBroker starts a broker on an ephemeral port in a fresh temp dir (or
// cfg.DataDir if set) and closes it at cleanup. opts edit the config first.
func newBroker(t testing.TB, opts ...func(*Config)) *Broker {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: testLogger()}
	// Segments are preallocated on disk; keep test topics small.
	cfg.Storage.SegmentBytes = 1 << 20
	// Registered before Close's cleanup, so checked after the broker is
	// closed: every fetch has finished with its read results by then.
	cfg.Storage.OnLeak = leakcheck.New(t)
	for _, o := range opts {
		o(&cfg)
	}
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// newClient returns a kgo client for b, closed at cleanup.
func newClient(t testing.TB, b *Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.MetadataMinAge(50 * time.Millisecond)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// newAdmin returns a kadm client for b.
func newAdmin(t testing.TB, b *Broker) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newClient(t, b))
}

// testCtx returns a context that ends with the test or after d.
func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond every few milliseconds until it is true or the
// deadline passes, then fails the test with what.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}
