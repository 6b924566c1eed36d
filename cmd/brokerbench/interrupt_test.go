package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// longWorkload runs for a minute unless interrupted.
const longWorkload = `workloads:
  - name: long
    partitionsPerTopic: 4
    consumerPerSubscription: 2
    producerRate: 500
    warmup: 0s
    duration: 60s
`

// buildCLI builds the brokerbench binary for tests that need a real
// process (signals, exit codes).
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "brokerbench")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cliProcess is a running brokerbench whose stderr is watched line by line.
type cliProcess struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr strings.Builder
	lines  chan string
	done   chan struct{}
}

func startCLI(t *testing.T, bin string, args ...string) *cliProcess {
	t.Helper()
	p := &cliProcess{cmd: exec.Command(bin, args...), lines: make(chan string, 1000), done: make(chan struct{})}
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, errPipe)
	}()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	return p
}

// waitLine waits for a stderr line containing s.
func (p *cliProcess) waitLine(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, s) {
				return
			}
		case <-p.done:
			t.Fatalf("brokerbench ended before printing %q:\n%s", s, p.errText())
		case <-deadline:
			t.Fatalf("no %q within %s:\n%s", s, timeout, p.errText())
		}
	}
}

func (p *cliProcess) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// wait waits for the process to exit within timeout and returns its exit
// code.
func (p *cliProcess) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	exited := make(chan error, 1)
	go func() { <-p.done; exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-ctx.Done():
		t.Fatalf("brokerbench still running %s after the interrupt:\n%s", timeout, p.errText())
		return -1
	}
}

// TestInterrupt is Ctrl-C through the real binary: the first SIGINT stops
// the run within seconds, writes it as interrupted with its partial
// figures, cleans up and exits 130; a second SIGINT during that exits at
// once with 130 after saying what is left behind.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	file := writeFile(t, "long.yaml", longWorkload)

	t.Run("once", func(t *testing.T) {
		out := t.TempDir()
		p := startCLI(t, bin, "run", "--workloads", file, "--out", out, "--no-progress")
		p.waitLine(t, "measuring", 60*time.Second)
		time.Sleep(1500 * time.Millisecond) // a sample or two of figures
		sent := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		code := p.wait(t, 20*time.Second)
		if code != exitInterrupted {
			t.Errorf("exit %d, want %d\nstderr:\n%s", code, exitInterrupted, p.errText())
		}
		if took := time.Since(sent); took > 15*time.Second {
			t.Errorf("took %s to stop after Ctrl-C", took)
		}
		r, err := results.Read(filepath.Join(out, "long.refbroker.json"))
		if err != nil {
			t.Fatalf("no result for the interrupted run: %v\nstderr:\n%s", err, p.errText())
		}
		if r.Status != results.StatusInterrupted || r.Counts.Acked == 0 || len(r.Samples) == 0 {
			t.Errorf("result: status %s counts %+v samples %d", r.Status, r.Counts, len(r.Samples))
		}
		if !strings.Contains(p.stdout.String(), "interrupted") {
			t.Errorf("summary does not show the interrupted run:\n%s", p.stdout.String())
		}
		if _, err := os.Stat(filepath.Join(out, "report")); err == nil {
			t.Error("an interrupted run drew a report")
		}
	})

	t.Run("twice", func(t *testing.T) {
		p := startCLI(t, bin, "run", "--workloads", file, "--out", t.TempDir(), "--no-progress")
		p.waitLine(t, "measuring", 60*time.Second)
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		p.waitLine(t, "interrupt again to exit at once", 10*time.Second)
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		code := p.wait(t, 5*time.Second)
		stderr := p.errText()
		if code != exitInterrupted {
			t.Errorf("exit %d, want %d\nstderr:\n%s", code, exitInterrupted, stderr)
		}
		// The first interrupt's cleanup may win the race and finish; then
		// there was no second interrupt to handle, and nothing is left.
		if strings.Contains(stderr, "interrupted again") && !strings.Contains(stderr, "left behind") {
			t.Errorf("second interrupt did not say what is left behind:\n%s", stderr)
		}
		t.Logf("second interrupt handled: %t", strings.Contains(stderr, "interrupted again"))
	})
}

// TestHandleInterrupts checks the handler itself with real signals sent
// to this process: the first cancels, the second exits 130 after naming
// the topics still live.
func TestHandleInterrupts(t *testing.T) {
	// Not parallel: it signals the test process itself.
	var buf bytes.Buffer
	stderr := &lockedWriter{w: &buf}
	cancelled := make(chan struct{})
	exited := make(chan int, 1)
	stop := handleInterrupts(stderr, func() { close(cancelled) }, &runner.Resources{}, func(code int) { exited <- code })
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("first SIGINT did not cancel")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		if code != exitInterrupted {
			t.Errorf("exit code %d, want %d", code, exitInterrupted)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second SIGINT did not exit")
	}
	// The handler wrote before it called exit, which the receive above
	// waited for.
	if s := buf.String(); !strings.Contains(s, "nothing left behind") {
		t.Errorf("stderr does not name what is left behind:\n%s", s)
	}
}
