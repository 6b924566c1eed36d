package chaos

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
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
