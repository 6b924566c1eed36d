package distributed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/brokerbench/brokerbench/results"
)

// Local runs the workers of a distributed run as processes on this
// machine (`run --local-workers n`): the same coordinator as on
// Kubernetes, with exec instead of an Indexed Job.
type Local struct {
	// N is the number of workers.
	N int
	// Command is the program and the arguments of `run` every worker
	// gets; Local appends --shard, --run-id, --listen and --out.
	Command []string
	// Env is added to every worker's environment.
	Env []string
	// Dir is where shard i writes its results and log: Dir/shard-i and
	// Dir/shard-i.log.
	Dir string
	// RunID names the run's topics.
	RunID string
	// Searches lets the coordinator run the shards' saturation searches
	// (Coordinator.Searches).
	Searches *Searches
	Logger   *slog.Logger
}

// Run starts the workers, drives them and returns their results. Every
// worker process has ended when it returns.
func (l Local) Run(ctx context.Context) ([]*results.Result, error) {
	if l.Logger == nil {
		l.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create shard results folder: %w", err)
	}
	procs := make([]*workerProc, l.N)
	urls := make([]string, l.N)
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.stop()
			}
		}
	}()
	for i := range l.N {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		p, err := l.start(ctx, i, addr)
		if err != nil {
			return nil, err
		}
		procs[i], urls[i] = p, "http://"+addr
	}
	c := &Coordinator{Workers: urls, Logger: l.Logger, Searches: l.Searches, Exited: func(i int) error { return procs[i].exited() }}
	rs, err := c.Drive(ctx)
	for _, p := range procs {
		p.wait(30 * time.Second)
	}
	return rs, err
}

func (l Local) start(ctx context.Context, i int, addr string) (*workerProc, error) {
	dir := filepath.Join(l.Dir, fmt.Sprintf("shard-%d", i))
	logPath := dir + ".log"
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create worker log: %w", err)
	}
	args := append(append([]string(nil), l.Command[1:]...),
		"--shard", fmt.Sprintf("%d/%d", i, l.N), "--run-id", l.RunID, "--listen", addr, "--out", dir)
	// The workers outlive a cancelled ctx long enough to be aborted and
	// tear down; stop kills them if they do not end.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), l.Command[0], args...)
	cmd.Env = append(os.Environ(), l.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start worker %d: %w", i, err)
	}
	l.Logger.Info("worker started", "shard", fmt.Sprintf("%d/%d", i, l.N), "pid", cmd.Process.Pid, "api", "http://"+addr, "log", logPath)
	p := &workerProc{cmd: cmd, log: logf, logPath: logPath, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

type workerProc struct {
	cmd     *exec.Cmd
	log     *os.File
	logPath string
	done    chan struct{}
	mu      sync.Mutex
	err     error
}

// exited returns an error once the process has ended, with the tail of
// its log: the coordinator fails the run with it.
func (p *workerProc) exited() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	status := "exited"
	if p.err != nil {
		status = p.err.Error()
	}
	return fmt.Errorf("worker process %d %s (log %s):\n%s", p.cmd.Process.Pid, status, p.logPath, logTail(p.logPath, 15))
}

func (p *workerProc) wait(d time.Duration) {
	select {
	case <-p.done:
	case <-time.After(d):
		p.stop()
	}
}

func (p *workerProc) stop() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func logTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// freeAddr returns a loopback address with a port free at the time of the
// call.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port for a worker: %w", err)
	}
	addr := ln.Addr().String()
	return addr, errors.Join(ln.Close())
}
