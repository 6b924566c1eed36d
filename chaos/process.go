package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"
)

// ProcessConfig describes a broker process the suite starts itself. The
// system registry (package suite/systems) builds one per system it can
// own; tests build them by hand with keyed fields.
type ProcessConfig struct {
	// Name labels the process in errors. Default: the base name of Path.
	Name string
	// Path is the executable; required.
	Path string
	// Args are the command-line arguments (without the program name). They
	// must pin the port and data directory, so that a restart comes back on
	// the same ones.
	Args []string
	// Env is the environment; nil inherits this process's environment.
	Env []string
	// DataDir, if set, is created (0o755) before every start.
	DataDir string
	// Addr is the host:port the process serves; required. Readiness is
	// checked there.
	Addr string
	// Ready reports whether the process serves Addr; it is polled (each
	// call bounded by 1s) after every start. Default TCPReady.
	Ready func(ctx context.Context, addr string) error
	// ReadyTimeout bounds the wait for readiness after a start. Default 30s.
	ReadyTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	// Default 10s.
	StopTimeout time.Duration
	// Output, if set, receives the process's stdout and stderr. The last
	// 8 KiB are always kept for error messages (see Process.Output).
	Output io.Writer

	_ struct{} // forces keyed literals
}

// Process is a broker subprocess that can be killed with SIGKILL and
// restarted on the same port and data directory, and paused with SIGSTOP.
// It runs in its own process group, so signals reach its children too (a
// forked redis-server saving in the background) and nothing survives a
// kill; on Linux it is also killed if this process dies (Pdeathsig).
// All methods are safe for concurrent use; operations are serialised.
type Process struct {
	cfg ProcessConfig

	op   sync.Mutex // serialises Start/Kill/Stop/Pause/Resume/Close
	mu   sync.Mutex // guards the fields below for quick readers
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been reaped
	werr *error        // where the waiter stores cmd.Wait's result; read only after done
	// want is true between a successful Start and Stop/Close: HealAll
	// brings such a process back if it is down.
	want   bool
	paused bool
	closed bool
	tail   *tailBuffer
}

// NewProcess validates cfg and returns a Process that is not started yet.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	if cfg.Path == "" {
		return nil, errors.New("new process: Path is empty; set the executable")
	}
	if cfg.Name == "" {
		cfg.Name = filepath.Base(cfg.Path)
	}
	if cfg.Addr == "" {
		return nil, fmt.Errorf("new process %s: Addr is empty; set the host:port it serves", cfg.Name)
	}
	if cfg.ReadyTimeout < 0 || cfg.StopTimeout < 0 {
		return nil, fmt.Errorf("new process %s: negative ReadyTimeout or StopTimeout", cfg.Name)
	}
	if cfg.Ready == nil {
		cfg.Ready = TCPReady
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	return &Process{cfg: cfg, tail: newTailBuffer(8 << 10)}, nil
}

// Addr is the address the process serves.
func (p *Process) Addr() string { return p.cfg.Addr }

// Name is the process's label.
func (p *Process) Name() string { return p.cfg.Name }

// Args are the process's command-line arguments (a copy).
func (p *Process) Args() []string { return slices.Clone(p.cfg.Args) }

// Output returns the last 8 KiB of the process's stdout and stderr, over
// all its starts.
func (p *Process) Output() string { return p.tail.String() }

// PID returns the process id (also its process group id), or 0 when it is
// not running.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the process is alive (paused counts as alive).
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

// Paused reports whether the process is stopped by Pause.
func (p *Process) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused && p.runningLocked()
}

func (p *Process) runningLocked() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Start launches the process and waits until it is ready. If it exits or
// is not ready within ReadyTimeout (or ctx ends), it is killed and the
// error wraps ErrNotReady and quotes the end of its output.
func (p *Process) Start(ctx context.Context) error {
	p.op.Lock()
	defer p.op.Unlock()
	return p.startLocked(ctx)
}

func (p *Process) startLocked(ctx context.Context) error {
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return fmt.Errorf("start %s: %w", p.cfg.Name, ErrClosed)
	case p.runningLocked():
		p.mu.Unlock()
		return fmt.Errorf("start %s: %w (pid %d)", p.cfg.Name, ErrAlreadyRunning, p.cmd.Process.Pid)
	}
	p.mu.Unlock()
	if p.cfg.DataDir != "" {
		if err := os.MkdirAll(p.cfg.DataDir, 0o755); err != nil {
			return fmt.Errorf("start %s: create data dir: %w", p.cfg.Name, err)
		}
	}
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Env = p.cfg.Env
	var out io.Writer = p.tail
	if p.cfg.Output != nil {
		out = io.MultiWriter(p.tail, p.cfg.Output)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	// A child that keeps the output pipe open must not hang Wait.
	cmd.WaitDelay = time.Second
	done := make(chan struct{})
	werr := new(error) // written by the waiter before it closes done
	started := make(chan error, 1)
	// Pdeathsig fires when the OS thread that forked the child exits, not
	// when this process does (golang/go#27505). So fork from a goroutine
	// locked to its thread and keep it alive, waiting, until the child is
	// reaped; Go never retires a locked thread while its goroutine lives.
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(done)
			return // the locked thread exits with no child to signal
		}
		started <- nil
		*werr = cmd.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start %s: %w", p.cfg.Name, err)
	}
	p.mu.Lock()
	p.cmd, p.done, p.werr, p.paused = cmd, done, werr, false
	p.mu.Unlock()
	if err := p.waitReady(ctx, done); err != nil {
		_ = p.signalAndReap(context.WithoutCancel(ctx), syscall.SIGKILL)
		return fmt.Errorf("start %s: %w\n--- output ---\n%s", p.cfg.Name, err, p.tail.String())
	}
	p.mu.Lock()
	p.want = true
	p.mu.Unlock()
	return nil
}

// waitReady polls Ready until it succeeds, the process exits, ReadyTimeout
// passes or ctx ends.
func (p *Process) waitReady(ctx context.Context, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		try, cancelTry := context.WithTimeout(ctx, time.Second)
		last = p.cfg.Ready(try, p.cfg.Addr)
		cancelTry()
		if last == nil {
			return nil
		}
		select {
		case <-done:
			p.mu.Lock()
			werr := *p.werr // done is closed: the waiter has written it
			p.mu.Unlock()
			return fmt.Errorf("%w: exited before serving %s: %v", ErrNotReady, p.cfg.Addr, werr)
		case <-ctx.Done():
			return fmt.Errorf("%w: not serving %s after %v: %v (%w)", ErrNotReady, p.cfg.Addr, p.cfg.ReadyTimeout, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// Kill sends SIGKILL to the process group and waits until the process is
// reaped, so its port and files are free when Kill returns.
func (p *Process) Kill(ctx context.Context) error {
	p.op.Lock()
	defer p.op.Unlock()
	if !p.Running() {
		return fmt.Errorf("kill %s: %w", p.cfg.Name, ErrNotRunning)
	}
	if err := p.signalAndReap(ctx, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", p.cfg.Name, err)
	}
	return nil
}

// Restart kills the process if it is running and starts it again on the
// same arguments (port, data directory), waiting for readiness.
func (p *Process) Restart(ctx context.Context) error {
	p.op.Lock()
	defer p.op.Unlock()
	if p.Running() {
		if err := p.signalAndReap(ctx, syscall.SIGKILL); err != nil {
			return fmt.Errorf("restart %s: kill: %w", p.cfg.Name, err)
		}
	}
	return p.startLocked(ctx)
}

// Pause sends SIGSTOP to the process group: the process keeps its
// connections but answers nothing until Resume.
func (p *Process) Pause() error { return p.pauseResume(true) }

// Resume sends SIGCONT to the process group.
func (p *Process) Resume() error { return p.pauseResume(false) }

func (p *Process) pauseResume(pause bool) error {
	p.op.Lock()
	defer p.op.Unlock()
	sig, what := syscall.SIGCONT, "resume"
	if pause {
		sig, what = syscall.SIGSTOP, "pause"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return fmt.Errorf("%s %s: %w", what, p.cfg.Name, ErrNotRunning)
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("%s %s: signal process group %d: %w", what, p.cfg.Name, p.cmd.Process.Pid, err)
	}
	p.paused = pause
	return nil
}

// Stop shuts the process down gracefully: SIGTERM (and SIGCONT, in case it
// is paused), then SIGKILL if it has not exited within StopTimeout. A
// stopped process is not restarted by HealAll.
func (p *Process) Stop(ctx context.Context) error {
	p.op.Lock()
	defer p.op.Unlock()
	p.mu.Lock()
	p.want = false
	p.mu.Unlock()
	return p.stopLocked(ctx)
}

func (p *Process) stopLocked(ctx context.Context) error {
	if !p.Running() {
		return nil
	}
	p.mu.Lock()
	pid, done := p.cmd.Process.Pid, p.done
	p.mu.Unlock()
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(-pid, syscall.SIGCONT)
	t := time.NewTimer(p.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	if err := p.signalAndReap(context.WithoutCancel(ctx), syscall.SIGKILL); err != nil {
		return fmt.Errorf("stop %s: %w", p.cfg.Name, err)
	}
	return nil
}

// Close kills the process group if it runs and waits for it; later starts
// fail with ErrClosed. It is idempotent.
func (p *Process) Close() error {
	p.op.Lock()
	defer p.op.Unlock()
	p.mu.Lock()
	p.closed, p.want = true, false
	p.mu.Unlock()
	if !p.Running() {
		return nil
	}
	if err := p.signalAndReap(context.Background(), syscall.SIGKILL); err != nil {
		return fmt.Errorf("close %s: %w", p.cfg.Name, err)
	}
	return nil
}

// signalAndReap signals the whole process group and waits until the
// process is reaped (SIGKILL is never ignored, so the wait is short).
func (p *Process) signalAndReap(ctx context.Context, sig syscall.Signal) error {
	p.mu.Lock()
	if p.done == nil {
		p.mu.Unlock()
		return nil
	}
	pid, done := p.cmd.Process.Pid, p.done
	p.mu.Unlock()
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal process group %d with %v: %w", pid, sig, err)
	}
	select {
	case <-done:
		p.mu.Lock()
		p.paused = false
		p.mu.Unlock()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for pid %d to exit after %v: %w", pid, sig, ctx.Err())
	}
}

// tailBuffer keeps the last limit bytes written to it. Safe for concurrent
// use (stdout and stderr are copied by different goroutines).
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
}

func newTailBuffer(limit int) *tailBuffer { return &tailBuffer{limit: limit} }

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.limit; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
