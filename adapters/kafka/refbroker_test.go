package kafka

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/refbroker"
)

// newRefbroker starts an embedded refbroker on an ephemeral port with its
// data in a temporary directory, and closes it with t. opts edit the
// config first.
func newRefbroker(t testing.TB, opts ...func(*refbroker.Config)) *refbroker.Broker {
	t.Helper()
	cfg := refbroker.Config{
		Listen:  "127.0.0.1:0",
		DataDir: t.TempDir(),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	b, err := refbroker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start refbroker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close refbroker: %v", err)
		}
	})
	return b
}

func TestConformanceRefbroker(t *testing.T) {
	t.Parallel()
	b := newRefbroker(t)
	adaptertest.Run(t, func(t *testing.T) adapters.System {
		return newKafka(t, []string{b.Addr()})
	})
}

// forEachBroker runs fn as parallel subtests against kfake and against the
// embedded refbroker, so every Kafka-specific behaviour is checked on both.
func forEachBroker(t *testing.T, fn func(t *testing.T, addrs []string)) {
	t.Helper()
	t.Run("kfake", func(t *testing.T) {
		t.Parallel()
		fn(t, newCluster(t).ListenAddrs())
	})
	t.Run("refbroker", func(t *testing.T) {
		t.Parallel()
		fn(t, []string{newRefbroker(t).Addr()})
	})
}
