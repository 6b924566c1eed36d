package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/chaos"
	"github.com/brokerbench/brokerbench/workloads"
)

// faultEnv is what the CLI builds around a system so that the selected
// workloads' chaos schedules can run: a proxy network every connection
// goes through (network faults), and broker processes the suite starts
// itself (process faults: refbroker as a subprocess instead of in-process,
// a private redis-server instead of the shared one).
type faultEnv struct {
	network bool // some run has a network fault
	process bool // some run has a process fault

	nw    *chaos.Network
	procs map[string]*chaos.Process
	dirs  []string
}

func newFaultEnv(runs []workloads.Workload) *faultEnv {
	e := &faultEnv{procs: map[string]*chaos.Process{}}
	for _, w := range runs {
		if w.Chaos == nil {
			continue
		}
		for _, f := range w.Chaos.Faults {
			e.network = e.network || f.Kind.IsNetwork()
			e.process = e.process || f.Kind.IsProcess()
		}
	}
	return e
}

// open prepares the environment for one system. Every adapter routes its
// admin, producer and consumer connections through a RoleDialer, so faults
// can aim at one path.
func (e *faultEnv) open() error {
	if !e.network {
		return nil
	}
	nw, err := chaos.NewNetwork()
	if err != nil {
		return fmt.Errorf("start the fault proxies: %w", err)
	}
	e.nw = nw
	return nil
}

// injectors is the runner's view of the environment.
func (e *faultEnv) injectors() chaos.Injectors {
	return chaos.Injectors{Network: e.nw, Processes: e.procs}
}

// roleDialer routes each role's connections (admin, producers, consumers)
// through their own proxies when network faults are on; nil (plain TCP)
// otherwise.
func (e *faultEnv) roleDialer() adapters.RoleDialer {
	if e.nw == nil {
		return nil
	}
	return func(role string) func(ctx context.Context, network, addr string) (net.Conn, error) {
		return e.nw.Dialer(role)
	}
}

// startProcess starts a broker the suite owns, registered as the target of
// process faults ("broker").
func (e *faultEnv) startProcess(ctx context.Context, cfg chaos.ProcessConfig) (*chaos.Process, error) {
	p, err := chaos.NewProcess(cfg)
	if err != nil {
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		return nil, fmt.Errorf("start %s: %w\n%s", cfg.Name, err, p.Output())
	}
	e.procs[chaos.TargetBroker] = p
	return p, nil
}

func (e *faultEnv) tempDir(prefix string) (string, error) {
	d, err := os.MkdirTemp("", prefix)
	if err == nil {
		e.dirs = append(e.dirs, d)
	}
	return d, err
}

func (e *faultEnv) close() error {
	var errs []error
	for _, p := range e.procs {
		errs = append(errs, p.Close())
	}
	if e.nw != nil {
		errs = append(errs, e.nw.Close())
	}
	for _, d := range e.dirs {
		os.RemoveAll(d)
	}
	return errors.Join(errs...)
}

// refbrokerBinary finds the refbroker binary that process faults run:
// $BROKERBENCH_REFBROKER_BIN, else "refbroker" next to this binary (make
// build puts both in bin/), else on $PATH.
func refbrokerBinary() (string, error) {
	if p := os.Getenv("BROKERBENCH_REFBROKER_BIN"); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "refbroker")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("refbroker"); err == nil {
		return p, nil
	}
	return "", usagef("process faults (kill, pause) run refbroker as a subprocess, but no refbroker binary was found: run make build, or set BROKERBENCH_REFBROKER_BIN")
}
