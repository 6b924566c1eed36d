package chaos

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// waitFor polls cond every 10ms until it returns nil or timeout passes, and
// then fails the test with cond's last error.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %v", what, timeout, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// needBinary returns the path of an installed binary, skipping the test if
// it is missing (failing under CI=true, where it must be installed).
func needBinary(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true: %v", path, err)
		}
		t.Skipf("%s not installed (%v); skipping", path, err)
	}
	return path
}

// refbrokerBuild builds ./cmd/refbroker once per test binary.
var refbrokerBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// refbrokerBinary returns a refbroker binary: $BROKERBENCH_REFBROKER_BIN if
// set, else one built from ./cmd/refbroker into a temporary directory that
// TestMain removes.
func refbrokerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BROKERBENCH_REFBROKER_BIN"); p != "" {
		return needBinary(t, p)
	}
	b := &refbrokerBuild
	b.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			b.err = err
			return
		}
		b.dir, b.err = os.MkdirTemp("", "chaos-refbroker-")
		if b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "refbroker")
		out, err := exec.Command(goBin, "build", "-o", b.path, "github.com/brokerbench/brokerbench/cmd/refbroker").CombinedOutput()
		if err != nil {
			b.err = errors.New(err.Error() + ": " + string(out))
		}
	})
	if b.err != nil {
		t.Fatalf("build refbroker: %v", b.err)
	}
	return b.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if refbrokerBuild.dir != "" {
		_ = os.RemoveAll(refbrokerBuild.dir)
	}
	os.Exit(code)
}

// newProcess starts a Process from cfg and registers its Close, then checks
// that no process of its group is left behind.
func newProcess(t *testing.T, cfg ProcessConfig) *Process {
	t.Helper()
	p, err := NewProcess(cfg)
	if err != nil {
		t.Fatalf("NewProcess: %v", err)
	}
	t.Cleanup(func() {
		pid := p.PID()
		if err := p.Close(); err != nil {
			t.Errorf("close %s: %v", cfg.Name, err)
		}
		if pid != 0 {
			if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("process group %d of %s still exists after Close (kill -0: %v)", pid, cfg.Name, err)
			}
		}
	})
	if err := p.Start(t.Context()); err != nil {
		t.Fatalf("start %s: %v", cfg.Name, err)
	}
	return p
}

// newNetwork returns a Network closed at cleanup.
func newNetwork(t *testing.T, opts ...NetworkOpt) *Network {
	t.Helper()
	n, err := NewNetwork(opts...)
	if err != nil {
		t.Fatalf("NewNetwork: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// redisFixture is a redis-server on 127.0.0.1:port with its own data
// directory and an fsync-always append-only file: a real broker for the
// process tests. (What brokerbench itself runs is declared in the system
// registry, suite/systems, which this package must not know.)
func redisFixture(bin, dataDir string, port int) ProcessConfig {
	return ProcessConfig{
		Name: "redis-server", Path: bin, DataDir: dataDir, Ready: redisPing,
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dataDir,
			"--save", "", "--daemonize", "no", "--appendonly", "yes", "--appendfsync", "always"},
	}
}

// redisPing is ready when the server answers PING: one still loading its
// append-only file accepts connections but answers -LOADING.
func redisPing(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	defer c.Close()
	return c.Ping(ctx).Err()
}

// refbrokerFixture is a refbroker binary serving addr from dataDir.
func refbrokerFixture(bin, dataDir, addr string, extraArgs ...string) ProcessConfig {
	return ProcessConfig{
		Name: "refbroker", Path: bin, DataDir: dataDir, Addr: addr,
		Args: append([]string{"--data-dir", dataDir, "--listen", addr}, extraArgs...),
	}
}
