package e2e_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries builds cmd/refbroker at most once per test binary run, into a
// directory TestMain removes. It is the package's only shared state: a
// write-once build cache, so that the crash and torn-write tests (and
// -count=N reruns) do not each pay for a link on a loaded 2-core machine.
type binaries struct {
	dir  string
	once sync.Once
	path string
	err  error
}

// suiteBinaries is set up by TestMain before any test runs.
var suiteBinaries = &binaries{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "refbroker-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: create binary dir: %v\n", err)
		os.Exit(2)
	}
	suiteBinaries.dir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// refbrokerBinary returns the path of a freshly built cmd/refbroker,
// building it on first use. The test's working directory is this package's
// directory, inside the module, so the import path resolves.
func refbrokerBinary(t testing.TB) string {
	t.Helper()
	bb := suiteBinaries
	bb.once.Do(func() {
		bb.path = filepath.Join(bb.dir, "refbroker")
		cmd := exec.Command("go", "build", "-o", bb.path, "github.com/brokerbench/brokerbench/cmd/refbroker")
		out, err := cmd.CombinedOutput()
		if err != nil {
			bb.err = fmt.Errorf("go build cmd/refbroker: %w\n%s", err, out)
		}
	})
	if bb.err != nil {
		t.Fatal(bb.err)
	}
	return bb.path
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// subprocess must keep one port across restarts (the producer's seed
// address must stay valid), so ":0" cannot be passed to it; the tiny race
// with another process grabbing the port shows up as a start failure, not
// as a wrong result.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("release port %d: %v", port, err)
	}
	return port
}

// brokerProc is cmd/refbroker running as a subprocess, restartable on the
// same data dir and port. Methods are meant for the test goroutine only.
type brokerProc struct {
	t       testing.TB
	bin     string
	dataDir string
	port    int
	args    []string // extra flags, e.g. --fsync

	cmd    *exec.Cmd
	waited chan struct{} // closed when cmd.Wait returns
	stderr *syncBuffer
	starts int
}

// newBrokerProc starts cmd/refbroker on a fresh data dir and free port with
// the extra flags args, and kills it at cleanup. On failure the process
// output is logged.
func newBrokerProc(t testing.TB, args ...string) *brokerProc {
	t.Helper()
	p := &brokerProc{
		t: t, bin: refbrokerBinary(t), dataDir: t.TempDir(), port: freePort(t),
		args: args, stderr: &syncBuffer{},
	}
	t.Cleanup(func() {
		if p.running() {
			p.kill()
		}
		if t.Failed() || testing.Verbose() {
			out := p.stderr.String()
			if len(out) > 16<<10 {
				out = "...\n" + out[len(out)-16<<10:]
			}
			t.Logf("refbroker output (%d starts):\n%s", p.starts, out)
		}
	})
	p.start()
	return p
}

// Addr is the broker's host:port, the same across restarts.
func (p *brokerProc) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

func (p *brokerProc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.waited:
		return false
	default:
		return true
	}
}

// start launches the binary and waits until it accepts connections.
func (p *brokerProc) start() {
	p.t.Helper()
	args := append([]string{"--data-dir", p.dataDir, "--listen", p.Addr()}, p.args...)
	cmd := exec.Command(p.bin, args...)
	cmd.Stdout = p.stderr
	cmd.Stderr = p.stderr
	fmt.Fprintf(p.stderr, "=== start %d: %s %v\n", p.starts, p.bin, args)
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start refbroker: %v", err)
	}
	p.starts++
	p.cmd = cmd
	waited := make(chan struct{})
	p.waited = waited
	go func() { _ = cmd.Wait(); close(waited) }()
	// Readiness is "the port accepts a connection": the binary binds only
	// after recovery has finished, so a successful dial means the data
	// dir is open.
	waitFor(p.t, 30*time.Second, "refbroker subprocess to accept connections", func() bool {
		if !p.running() {
			p.t.Fatalf("refbroker exited during start: %v\n%s", cmd.ProcessState, p.stderr.String())
		}
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
}

// kill sends SIGKILL, which the process cannot catch: no deferred close,
// no clean-shutdown marker, no final sync. It returns once the process is
// reaped, so its listening socket and files are released.
func (p *brokerProc) kill() {
	p.t.Helper()
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL); err != nil && p.running() {
		p.t.Fatalf("kill -9 refbroker: %v", err)
	}
	select {
	case <-p.waited:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("refbroker pid %d did not exit after SIGKILL", p.cmd.Process.Pid)
	}
}

// stop sends SIGTERM and waits for a clean exit (status 0), so that
// everything the process writes at shutdown (a --cpu-profile among
// them) is complete.
func (p *brokerProc) stop() {
	p.t.Helper()
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM refbroker: %v", err)
	}
	select {
	case <-p.waited:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("refbroker pid %d did not exit within 60s of SIGTERM", p.cmd.Process.Pid)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("refbroker pid %d exited with status %d after SIGTERM", p.cmd.Process.Pid, code)
	}
}

// restart kills the process with SIGKILL and starts it again on the same
// data dir and port.
func (p *brokerProc) restart() {
	p.t.Helper()
	p.kill()
	p.start()
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// subprocess's stdout and stderr copiers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p under the lock; it never fails.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
