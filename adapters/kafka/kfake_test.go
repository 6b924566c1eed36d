package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// newCluster starts an in-process kfake cluster and closes it with t.
func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// newKafka connects an adapter to addrs and closes it with t.
func newKafka(t testing.TB, addrs []string) *Kafka {
	t.Helper()
	cfg := Config{}.Default()
	cfg.Brokers = addrs
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to %v: %v", addrs, err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func TestConformanceKfake(t *testing.T) {
	t.Parallel()
	cluster := newCluster(t)
	adaptertest.Run(t, func(t *testing.T) adapters.System {
		return newKafka(t, cluster.ListenAddrs())
	})
}
