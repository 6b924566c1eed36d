package systems

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/kafka"
	"github.com/brokerbench/brokerbench/chaos"
	"github.com/brokerbench/brokerbench/refbroker"
	"github.com/brokerbench/brokerbench/refbroker/refbrokercli"
)

// refbrokerBinEnv names the refbroker binary that brokerbench runs as its
// subprocess.
const refbrokerBinEnv = "BROKERBENCH_REFBROKER_BIN"

// ServeRefbrokerEnv, set to 1 in a child's environment, makes
// [ServeRefbroker] turn that process into refbroker: this is how
// brokerbench runs refbroker as its own subprocess without a second
// binary, always at its own version.
const ServeRefbrokerEnv = "BROKERBENCH_SERVE_REFBROKER"

// ServeRefbroker runs refbroker's command line (refbrokercli.Main) on the
// process's arguments when [ServeRefbrokerEnv] is set, and returns its exit
// code and true; otherwise it returns false at once. A program that sets
// [OpenOptions.SelfExec] calls it first thing in main (and a test binary in
// TestMain).
func ServeRefbroker() (int, bool) {
	if os.Getenv(ServeRefbrokerEnv) != "1" {
		return 0, false
	}
	return refbrokercli.Main(os.Args[1:], os.Stderr), true
}

// RefbrokerAddrEnv names a running refbroker to use instead of starting
// one: the workers of a distributed run share the coordinator's
// (docs/distributed.md).
const RefbrokerAddrEnv = "BROKERBENCH_REFBROKER_ADDR"

// Refbroker modes (BROKERBENCH_REFBROKER_MODE, --refbroker-mode).
const (
	// refbrokerAuto: a subprocess when one can be started (a refbroker
	// binary is found, or the running program can serve refbroker
	// itself), in-process otherwise. The result's server line says which.
	refbrokerAuto = "auto"
	// refbrokerSubprocess: always a subprocess; an error when none can be
	// started.
	refbrokerSubprocess = "subprocess"
	// refbrokerInProcess: the broker runs inside brokerbench, sharing its
	// CPU and garbage collector with the load generator; for tests.
	refbrokerInProcess = "in-process"
)

func refbrokerSystem() System {
	return System{
		Name:       "refbroker",
		EnvPrefix:  "BROKERBENCH_REFBROKER_",
		Connection: "embedded",
		Notes:      "the reference broker, started by brokerbench on a loopback port with a temporary data dir (default); a subprocess unless --refbroker-mode in-process",
		Flags:      []Flag{{"refbroker-mode", "MODE", "how brokerbench runs refbroker: auto (a subprocess when it can, else in-process), subprocess or in-process"}},
		Open:       openRefbroker,
		Process: func(dataDir string, port int) (chaos.ProcessConfig, error) {
			// --fsync always, the strictest policy: acknowledgements
			// wait for msync. A kill -9 cannot tell policies apart (the
			// page cache outlives the process, so nothing acknowledged
			// is lost under any policy); power-loss durability is tested
			// in refbroker/storage/crash_test.go.
			return refbrokerSubprocessConfig(dataDir, port, true, "--fsync", "always")
		},
	}
}

// refbrokerSubprocessConfig is the ProcessConfig of refbroker serving
// 127.0.0.1:port from dataDir: the binary of [refbrokerBinary], or, when
// there is none and selfExec allows, this program re-executed with
// [ServeRefbrokerEnv].
func refbrokerSubprocessConfig(dataDir string, port int, selfExec bool, extraArgs ...string) (chaos.ProcessConfig, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	bin, err := refbrokerBinary()
	if err == nil {
		return RefbrokerProcess(bin, dataDir, addr, extraArgs...), nil
	}
	if !selfExec {
		return chaos.ProcessConfig{}, err
	}
	self, serr := os.Executable()
	if serr != nil {
		return chaos.ProcessConfig{}, fmt.Errorf("find this program to run refbroker as its subprocess: %w", serr)
	}
	cfg := RefbrokerProcess(self, dataDir, addr, extraArgs...)
	cfg.Env = append(os.Environ(), ServeRefbrokerEnv+"=1")
	return cfg, nil
}

// openRefbroker connects the Kafka adapter to refbroker: the private
// process the suite started for process faults when there is one,
// otherwise one it starts here, as a subprocess or in-process by
// BROKERBENCH_REFBROKER_MODE. A subprocess keeps the broker's CPU and
// garbage collection out of the load generator's process, as with every
// other system. o.Logger is the in-process broker's own logger: the CLI
// passes one at warning level unless --verbose, since group and topic
// chatter would drown the progress lines.
func openRefbroker(ctx context.Context, o OpenOptions) (adapters.System, func() error, error) {
	if o.Owned != nil {
		return closer(refbrokerAdapter(ctx, o.Owned.Addr(), processLabel(o.Owned), o))
	}
	if addr := o.Getenv(RefbrokerAddrEnv); addr != "" {
		return closer(refbrokerAdapter(ctx, addr, "running at "+addr, o))
	}
	mode := o.Getenv("BROKERBENCH_REFBROKER_MODE")
	switch mode {
	case "", refbrokerAuto, refbrokerSubprocess:
		s, closeFn, err := openRefbrokerSubprocess(ctx, o)
		if err == nil || mode == refbrokerSubprocess || !errors.Is(err, errNoRefbrokerBinary) {
			return s, closeFn, err
		}
		return openRefbrokerInProcess(ctx, o, "in-process: no refbroker binary and this program cannot serve refbroker")
	case refbrokerInProcess:
		return openRefbrokerInProcess(ctx, o, "in-process")
	default:
		return nil, nil, Setupf("invalid BROKERBENCH_REFBROKER_MODE (--refbroker-mode) %q: want %s, %s or %s", mode, refbrokerAuto, refbrokerSubprocess, refbrokerInProcess)
	}
}

// openRefbrokerSubprocess starts refbroker as a subprocess on a free
// loopback port with its own temporary data dir, removed at close.
func openRefbrokerSubprocess(ctx context.Context, o OpenOptions) (adapters.System, func() error, error) {
	port, err := chaos.FreePort("127.0.0.1")
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "brokerbench-refbroker-")
	if err != nil {
		return nil, nil, fmt.Errorf("create refbroker data dir: %w", err)
	}
	cfg, err := refbrokerSubprocessConfig(dir, port, o.SelfExec, "--log-level", "warn")
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	p, err := chaos.NewProcess(cfg)
	if err == nil {
		err = p.Start(ctx)
		if err != nil {
			err = fmt.Errorf("start refbroker subprocess: %w\n%s", err, p.Output())
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	stop := func() error {
		err := p.Close()
		os.RemoveAll(dir)
		return err
	}
	s, err := refbrokerAdapter(ctx, p.Addr(), processLabel(p), o)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return s, func() error { return errors.Join(s.Close(), stop()) }, nil
}

// processLabel describes a refbroker subprocess for results: its pid and
// flags, so a reader knows what was measured.
func processLabel(p *chaos.Process) string {
	return fmt.Sprintf("subprocess pid %d: %s", p.PID(), strings.Join(p.Args(), " "))
}

// openRefbrokerInProcess starts refbroker inside this process on a
// loopback ephemeral port with a temporary data dir.
func openRefbrokerInProcess(ctx context.Context, o OpenOptions, how string) (adapters.System, func() error, error) {
	dir, err := os.MkdirTemp("", "brokerbench-refbroker-")
	if err != nil {
		return nil, nil, fmt.Errorf("create refbroker data dir: %w", err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b, err := refbroker.Start(ctx, refbroker.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: logger})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("start embedded refbroker: %w", err)
	}
	s, err := refbrokerAdapter(ctx, b.Addr(), how+", default fsync interval", o)
	if err != nil {
		b.Close()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return s, func() error {
		err := s.Close()
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		os.RemoveAll(dir)
		return err
	}, nil
}

func refbrokerAdapter(ctx context.Context, addr, how string, o OpenOptions) (*kafka.Kafka, error) {
	cfg := kafka.Config{}.Default()
	cfg.Name, cfg.Brokers = "refbroker", []string{addr}
	cfg.Server = "refbroker " + o.ToolVersion + " (" + how + ")"
	cfg.Dialer = o.Dialer
	s, err := kafka.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to refbroker at %s: %w", addr, err)
	}
	return s, nil
}

// errNoRefbrokerBinary: no refbroker binary was found.
var errNoRefbrokerBinary = errors.New("no refbroker binary")

// refbrokerBinary finds the refbroker binary brokerbench runs as its
// subprocess: $BROKERBENCH_REFBROKER_BIN, else "refbroker" next to this
// binary (make build puts both in bin/), else on $PATH.
func refbrokerBinary() (string, error) {
	if p := os.Getenv(refbrokerBinEnv); p != "" {
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
	return "", Setup(fmt.Errorf("refbroker runs as a subprocess for process faults (kill, pause) and with --refbroker-mode subprocess, but %w was found: run make build, or set %s", errNoRefbrokerBinary, refbrokerBinEnv))
}

// RefbrokerProcess returns the ProcessConfig of a refbroker binary (built
// from ./cmd/refbroker) serving addr (host:port with a fixed port) from
// dataDir. extraArgs are appended, e.g. "--fsync=always". refbroker
// listens only after recovering its logs, so accepting a TCP connection
// means ready.
func RefbrokerProcess(bin, dataDir, addr string, extraArgs ...string) chaos.ProcessConfig {
	args := append([]string{"--data-dir", dataDir, "--listen", addr}, extraArgs...)
	return chaos.ProcessConfig{
		Name:    "refbroker",
		Path:    bin,
		Args:    args,
		DataDir: dataDir,
		Addr:    addr,
		Ready:   chaos.TCPReady,
	}
}
