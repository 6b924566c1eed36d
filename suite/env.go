package suite

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/chaos"
	"github.com/brokerbench/brokerbench/suite/systems"
	"github.com/brokerbench/brokerbench/workloads"
)

// faultEnv is what the suite builds around a system so that the selected
// workloads' chaos schedules can run: a proxy network every connection
// goes through (network faults), and a broker process the suite starts
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

// open prepares the environment for sys: the proxies when runs have
// network faults, and the private broker process when they have process
// faults. It returns that process, nil without process faults. Every
// adapter routes its admin, producer and consumer connections through a
// RoleDialer, so faults can aim at one path.
func (e *faultEnv) open(ctx context.Context, sys systems.System) (*chaos.Process, error) {
	if e.network && sys.NoProxy != "" {
		return nil, systems.Setupf("network faults (latency, blackhole, partition, ...) cannot run on %s: %s; drop them or use another --system", sys.Name, sys.NoProxy)
	}
	if e.network {
		nw, err := chaos.NewNetwork()
		if err != nil {
			return nil, fmt.Errorf("start the fault proxies: %w", err)
		}
		e.nw = nw
	}
	if !e.process {
		return nil, nil
	}
	if sys.Process == nil {
		return nil, systems.Setupf("process faults (kill, pause) need a broker brokerbench starts itself: use %s", systemFlags(systems.Owners()))
	}
	port, err := chaos.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	dir, err := e.tempDir("brokerbench-" + sys.Name + "-")
	if err != nil {
		return nil, err
	}
	cfg, err := sys.Process(dir, port)
	if err != nil {
		return nil, err
	}
	return e.startProcess(ctx, cfg)
}

// systemFlags joins names as "--system a or b".
func systemFlags(names []string) string {
	s := "--system "
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			s += " or "
		default:
			s += ", "
		}
		s += n
	}
	return s
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
