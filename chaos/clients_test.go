package chaos

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/refbroker"
)

// TestNetworkRedis puts a proxy in front of the shared Redis (by rewriting
// the client's address, as the runner does for Redis) and checks latency,
// blackhole and recovery with a real client.
func TestNetworkRedis(t *testing.T) {
	t.Parallel()
	upstream := sharedRedis(t)
	n := newNetwork(t)
	addr, err := n.Proxy(t.Context(), RoleConsumers, upstream)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rc.Close() })
	ping := func(timeout time.Duration) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		start := time.Now()
		err := rc.Ping(ctx).Err()
		return time.Since(start), err
	}
	if _, err := ping(5 * time.Second); err != nil {
		t.Fatalf("PING through the proxy: %v", err)
	}

	heal := inject(t, n, FaultSpec{Kind: KindLatency, Target: RoleConsumers, Latency: dur(50 * time.Millisecond), Duration: dur(time.Minute)})
	if rtt, err := ping(5 * time.Second); err != nil || rtt < 100*time.Millisecond {
		t.Errorf("PING with 50ms each way: %v, %v; want >= 100ms", rtt, err)
	}
	heal()

	heal = inject(t, n, FaultSpec{Kind: KindBlackhole, Target: RoleConsumers, Duration: dur(time.Minute)})
	if _, err := ping(300 * time.Millisecond); err == nil {
		t.Error("PING through a blackhole succeeded")
	}
	heal()
	// The client reconnects (the heal closed the stalled connection).
	waitFor(t, 10*time.Second, "redis PING after the blackhole heals", func() error {
		_, err := ping(time.Second)
		return err
	})

	heal = inject(t, n, FaultSpec{Kind: KindReset, Target: RoleConsumers, Duration: dur(time.Minute)})
	if _, err := ping(5 * time.Second); err == nil || isTimeout(err) {
		t.Errorf("PING through a reset: %v, want the connection closed", err)
	}
	heal()
	waitFor(t, 10*time.Second, "redis PING after the reset heals", func() error {
		_, err := ping(time.Second)
		return err
	})

	heal = inject(t, n, FaultSpec{Kind: KindDown, Target: RoleConsumers, Duration: dur(time.Minute)})
	// A connection still pooled from before reports the proxy closing it
	// (EOF) first; every new dial must then be refused. No attempt may
	// succeed.
	var downErr error
	for range 3 {
		if _, downErr = ping(5 * time.Second); downErr == nil || errors.Is(downErr, syscall.ECONNREFUSED) {
			break
		}
	}
	if !errors.Is(downErr, syscall.ECONNREFUSED) {
		t.Errorf("PING through a down proxy: %v, want ECONNREFUSED", downErr)
	}
	heal()
	waitFor(t, 10*time.Second, "redis PING after the proxy is back", func() error {
		_, err := ping(time.Second)
		return err
	})
}

// TestNetworkKafkaDialer routes a franz-go client through the Network's
// dialer (as the Kafka adapter's Config.Dialer does) to a refbroker, and
// checks that the broker learned from metadata is proxied and faulted.
func TestNetworkKafkaDialer(t *testing.T) {
	t.Parallel()
	b, err := refbroker.Start(context.Background(), refbroker.Config{
		Listen:  "127.0.0.1:0",
		DataDir: t.TempDir(),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	n := newNetwork(t)
	d := n.Dialer(RoleProducers)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(b.Addr()),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) { return d(ctx, network, host) }),
		kgo.DefaultProduceTopic("chaos-dialer"),
		kgo.AllowAutoTopicCreation(),
		kgo.RecordRetries(1000),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	produce := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr()
	}
	if err := produce(10 * time.Second); err != nil {
		t.Fatalf("produce through the proxy: %v", err)
	}
	// Every connection, to the seed and to the broker from metadata, went
	// through a producer proxy for the broker's address.
	proxies := n.Proxies()
	if len(proxies) == 0 {
		t.Fatal("no proxies were created")
	}
	for _, p := range proxies {
		if p.Role != RoleProducers || p.Upstream != b.Addr() {
			t.Errorf("unexpected proxy %+v (broker at %s)", p, b.Addr())
		}
	}

	heal := inject(t, n, FaultSpec{Kind: KindBlackhole, Target: RoleProducers, Duration: dur(time.Minute)})
	// A produce through the blackhole stalls: kgo cannot fail a request that
	// may have been written, so the ack waits for the heal.
	acked := make(chan error, 1)
	cl.Produce(context.Background(), &kgo.Record{Value: []byte("stalled")}, func(_ *kgo.Record, err error) { acked <- err })
	select {
	case err := <-acked:
		t.Fatalf("produce through a blackhole completed: %v", err)
	case <-time.After(500 * time.Millisecond): // the stall being asserted
	}
	heal()
	select {
	case err := <-acked:
		if err != nil {
			t.Fatalf("stalled produce after the heal: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("stalled produce not acknowledged 30s after the heal")
	}
	if err := produce(10 * time.Second); err != nil {
		t.Fatalf("produce after the heal: %v", err)
	}
}
