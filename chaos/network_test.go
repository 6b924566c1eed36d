package chaos

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// newEchoServer starts a TCP server on 127.0.0.1:0 that echoes every byte,
// and returns its address.
func newEchoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(c, c); _ = c.Close() })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dialVia dials addr through n for role and closes the connection at
// cleanup.
func dialVia(t *testing.T, n *Network, role, addr string) net.Conn {
	t.Helper()
	c, err := n.Dialer(role)(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s as %s: %v", addr, role, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg and reads the echo within timeout, returning the
// time it took.
func roundTrip(c net.Conn, msg []byte, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = c.SetDeadline(start.Add(timeout))
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return 0, err
	}
	if !bytes.Equal(got, msg) {
		return 0, errors.New("echo mismatch")
	}
	return time.Since(start), nil
}

func inject(t *testing.T, n *Network, f FaultSpec) func() {
	t.Helper()
	heal, err := n.Inject(t.Context(), f)
	if err != nil {
		t.Fatalf("inject %s: %v", f, err)
	}
	return func() {
		t.Helper()
		if err := heal(t.Context()); err != nil {
			t.Fatalf("heal %s: %v", f, err)
		}
	}
}

func TestNetworkLatency(t *testing.T) {
	t.Parallel()
	n, echo := newNetwork(t), newEchoServer(t)
	c := dialVia(t, n, RoleProducers, echo)
	base, err := roundTrip(c, []byte("ping"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	heal := inject(t, n, FaultSpec{Kind: KindLatency, Duration: dur(time.Minute), Latency: dur(100 * time.Millisecond), Jitter: dur(20 * time.Millisecond)})
	// Each direction adds 100ms +- 20ms, so a round trip takes >= 160ms.
	for range 3 {
		rtt, err := roundTrip(c, []byte("ping"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if rtt < 160*time.Millisecond {
			t.Errorf("round trip with 100ms+-20ms each way took %v (baseline %v), want >= 160ms", rtt, base)
		}
	}
	heal()
	waitFor(t, 5*time.Second, "latency healed", func() error {
		rtt, err := roundTrip(c, []byte("ping"), 5*time.Second)
		if err == nil && rtt > 50*time.Millisecond {
			err = errors.New("round trip still " + rtt.String())
		}
		return err
	})
}

func TestNetworkBandwidth(t *testing.T) {
	t.Parallel()
	n, echo := newNetwork(t), newEchoServer(t)
	c := dialVia(t, n, RoleConsumers, echo)
	msg := bytes.Repeat([]byte("x"), 50_000)
	if _, err := roundTrip(c, msg, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	defer inject(t, n, FaultSpec{Kind: KindBandwidth, Direction: DirDownstream, Duration: dur(time.Minute), BytesPerSecond: 100_000})()
	rtt, err := roundTrip(c, msg, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rtt < 400*time.Millisecond {
		t.Errorf("50 kB back at 100 kB/s took %v, want >= 400ms", rtt)
	}
}

func TestNetworkBlackhole(t *testing.T) {
	t.Parallel()
	n, echo := newNetwork(t), newEchoServer(t)
	c := dialVia(t, n, RoleConsumers, echo)
	if _, err := roundTrip(c, []byte("hello"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	heal := inject(t, n, FaultSpec{Kind: KindBlackhole, Target: RoleConsumers, Duration: dur(time.Minute)})
	// The connection stays open but nothing comes back: a stall, not an error.
	_, err := roundTrip(c, []byte("lost"), 300*time.Millisecond)
	if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
		t.Fatalf("round trip through a blackhole: err = %v, want a timeout", err)
	}
	// A connection opened during the blackhole is blackholed too.
	c2 := dialVia(t, n, RoleConsumers, echo)
	if _, err := roundTrip(c2, []byte("lost"), 300*time.Millisecond); err == nil {
		t.Fatal("new connection through a blackhole got its echo")
	}
	heal()
	// Healing closes the stalled connections; new ones work.
	c3 := dialVia(t, n, RoleConsumers, echo)
	if _, err := roundTrip(c3, []byte("back"), 5*time.Second); err != nil {
		t.Fatalf("after heal: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 16)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read on a healed blackholed connection: %v, want EOF (closed by the heal)", err)
	}
}

func TestNetworkReset(t *testing.T) {
	t.Parallel()
	n, echo := newNetwork(t), newEchoServer(t)
	c := dialVia(t, n, RoleConsumers, echo)
	if _, err := roundTrip(c, []byte("hello"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	heal := inject(t, n, FaultSpec{Kind: KindReset, Duration: dur(time.Minute)})
	// An existing connection is closed when it next carries data (EOF:
	// Toxiproxy sets linger 0 only on links created with the toxic present).
	if _, err := roundTrip(c, []byte("reset me"), 5*time.Second); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("round trip on an existing connection during reset: err = %v, want EOF or ECONNRESET", err)
	}
	// A connection opened during the fault gets a real RST on first data.
	c2 := dialVia(t, n, RoleConsumers, echo)
	_, err := roundTrip(c2, []byte("reset me"), 5*time.Second)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("round trip on a new connection during reset: err = %v, want ECONNRESET", err)
	}
	heal()
	c3 := dialVia(t, n, RoleConsumers, echo)
	if _, err := roundTrip(c3, []byte("back"), 5*time.Second); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}

func TestNetworkDown(t *testing.T) {
	t.Parallel()
	n, echo := newNetwork(t), newEchoServer(t)
	addr, err := n.Proxy(t.Context(), RoleAdmin, echo)
	if err != nil {
		t.Fatal(err)
	}
	c := dialVia(t, n, RoleAdmin, echo)
	if _, err := roundTrip(c, []byte("hello"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	heal := inject(t, n, FaultSpec{Kind: KindDown, Target: RoleAdmin, Duration: dur(time.Minute)})
	if _, err := roundTrip(c, []byte("gone"), 5*time.Second); err == nil || isTimeout(err) {
		t.Errorf("open connection through a down proxy: err = %v, want closed", err)
	}
	if _, err := n.Dialer(RoleAdmin)(t.Context(), "tcp", echo); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial through a down proxy: err = %v, want ECONNREFUSED", err)
	}
	if info := n.Proxies(); len(info) != 1 || !info[0].Down {
		t.Errorf("Proxies() = %+v, want one proxy marked down", info)
	}
	heal()
	// The proxy comes back on the same address, so rewritten endpoints work.
	c2, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s after heal: %v", addr, err)
	}
	defer c2.Close()
	if _, err := roundTrip(c2, []byte("back"), 5*time.Second); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}

func TestNetworkTargetsOneRole(t *testing.T) {
	t.Parallel()
	n, echo := newNetwork(t), newEchoServer(t)
	prod := dialVia(t, n, RoleProducers, echo)
	defer inject(t, n, FaultSpec{Kind: KindBlackhole, Target: RoleConsumers, Direction: DirUpstream, Duration: dur(time.Minute)})()
	// Created after the fault started: it must be blackholed too.
	cons := dialVia(t, n, RoleConsumers, echo)
	if _, err := roundTrip(cons, []byte("x"), 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("consumer round trip: err = %v, want a timeout", err)
	}
	if _, err := roundTrip(prod, []byte("x"), 5*time.Second); err != nil {
		t.Errorf("producer round trip while consumers are blackholed: %v", err)
	}
	var roles []string
	for _, p := range n.Proxies() {
		roles = append(roles, p.Role)
		wantToxics := 0
		if p.Role == RoleConsumers {
			wantToxics = 1 // upstream only
		}
		if len(p.Toxics) != wantToxics {
			t.Errorf("proxy %s has toxics %v, want %d", p.Role, p.Toxics, wantToxics)
		}
	}
	if !slices.Equal(roles, []string{RoleConsumers, RoleProducers}) {
		t.Errorf("proxy roles = %v", roles)
	}
}

func TestNetworkHealAllAndClose(t *testing.T) {
	t.Parallel()
	n, echo := newNetwork(t), newEchoServer(t)
	_ = dialVia(t, n, RoleProducers, echo)
	for _, f := range []FaultSpec{
		{Kind: KindDown, Duration: dur(time.Minute)},
		{Kind: KindLatency, Latency: dur(time.Second), Duration: dur(time.Minute)},
	} {
		if _, err := n.Inject(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.HealAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, p := range n.Proxies() {
		if p.Down || len(p.Toxics) != 0 {
			t.Errorf("after HealAll: %+v", p)
		}
	}
	c := dialVia(t, n, RoleProducers, echo)
	if rtt, err := roundTrip(c, []byte("x"), 5*time.Second); err != nil || rtt > 500*time.Millisecond {
		t.Errorf("after HealAll: rtt %v, err %v", rtt, err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Dialer(RoleProducers)(t.Context(), "tcp", echo); !errors.Is(err, ErrClosed) {
		t.Errorf("dial after Close: %v, want ErrClosed", err)
	}
}

func TestNetworkRejects(t *testing.T) {
	t.Parallel()
	n := newNetwork(t)
	if _, err := n.Proxy(t.Context(), TargetAll, "127.0.0.1:1"); err == nil {
		t.Error("Proxy with role all: want an error")
	}
	if _, err := n.Proxy(t.Context(), RoleAdmin, "no-port"); err == nil {
		t.Error("Proxy with upstream without port: want an error")
	}
	if _, err := n.Dialer(RoleAdmin)(t.Context(), "udp", "127.0.0.1:1"); err == nil {
		t.Error("udp dial: want an error")
	}
	if _, err := n.Inject(t.Context(), FaultSpec{Kind: KindKill}); !errors.Is(err, ErrNoInjector) {
		t.Errorf("kill on a Network: %v, want ErrNoInjector", err)
	}
	if _, err := n.Inject(t.Context(), FaultSpec{Kind: KindLatency}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("invalid latency fault: %v, want ErrInvalidSpec", err)
	}
	if _, err := NewNetwork(WithListenHost("not a host")); err == nil {
		t.Error("NewNetwork with a bad host: want an error")
	}
}

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// sharedRedis returns the address of the shared Redis on 127.0.0.1:6379,
// skipping (failing under CI=true) if it is not running.
func sharedRedis(t *testing.T) string {
	t.Helper()
	const addr = "127.0.0.1:6379"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := redisPing(ctx, addr); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis on %s is required under CI=true: %v", addr, err)
		}
		t.Skipf("Redis on %s not available: %v", addr, err)
	}
	return addr
}
