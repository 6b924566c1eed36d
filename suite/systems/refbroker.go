package systems

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/kafka"
	"github.com/brokerbench/brokerbench/chaos"
	"github.com/brokerbench/brokerbench/refbroker"
)

// refbrokerBinEnv names the refbroker binary that process faults run.
const refbrokerBinEnv = "BROKERBENCH_REFBROKER_BIN"

func refbrokerSystem() System {
	return System{
		Name:       "refbroker",
		Connection: "embedded",
		Notes:      "the reference broker, started in-process on a loopback port with a temporary data dir (default)",
		Open:       openRefbroker,
		Process: func(dataDir string, port int) (chaos.ProcessConfig, error) {
			bin, err := refbrokerBinary()
			if err != nil {
				return chaos.ProcessConfig{}, err
			}
			// --fsync always, the strictest policy: acknowledgements
			// wait for msync. A kill -9 cannot tell policies apart (the
			// page cache outlives the process, so nothing acknowledged
			// is lost under any policy); power-loss durability is tested
			// in refbroker/storage/crash_test.go.
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			return RefbrokerProcess(bin, dataDir, addr, "--fsync", "always"), nil
		},
	}
}

// openRefbroker connects the Kafka adapter to the private refbroker
// process when there is one, and otherwise starts the embedded reference
// broker on a loopback ephemeral port with a temporary data dir. o.Logger
// is the broker's own logger: the CLI passes one at warning level unless
// --verbose, since group and topic chatter would drown the progress lines.
func openRefbroker(ctx context.Context, o OpenOptions) (adapters.System, func() error, error) {
	if o.Owned != nil {
		return closer(refbrokerAdapter(ctx, o.Owned.Addr(), "subprocess, fsync always", o))
	}
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
	s, err := refbrokerAdapter(ctx, b.Addr(), "embedded, default fsync interval", o)
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

// refbrokerBinary finds the refbroker binary that process faults run:
// $BROKERBENCH_REFBROKER_BIN, else "refbroker" next to this binary (make
// build puts both in bin/), else on $PATH.
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
	return "", Setupf("process faults (kill, pause) run refbroker as a subprocess, but no refbroker binary was found: run make build, or set %s", refbrokerBinEnv)
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
