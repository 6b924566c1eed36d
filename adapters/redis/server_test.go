package redis

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/chaos"
)

// StartTestServer starts a private redis-server without persistence on a
// free loopback port, with extra arguments (such as --replicaof), stopped
// when t ends, and returns its address. Tests and benchmarks use it where
// they must not touch the shared server's configuration or load. Without
// redis-server the test is skipped (failed with CI=true).
func StartTestServer(t testing.TB, extra ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server required: %v", err)
		}
		t.Skipf("redis-server not on $PATH (%v); skipping (set CI=true to fail instead)", err)
	}
	port, err := chaos.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p, err := chaos.NewProcess(chaos.ProcessConfig{
		Name: "redis-server",
		Path: bin,
		Args: append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no"}, extra...),
		DataDir: dir,
		Addr:    addr,
		Ready: func(ctx context.Context, addr string) error {
			c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
			defer c.Close()
			return c.Ping(ctx).Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := p.Start(t.Context()); err != nil {
		t.Fatalf("start redis-server on %s: %v; output: %s", addr, err, p.Output())
	}
	return addr
}
