package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/kafka"
	"github.com/brokerbench/brokerbench/adapters/nats"
	"github.com/brokerbench/brokerbench/adapters/rabbitmq"
	"github.com/brokerbench/brokerbench/adapters/redis"
	"github.com/brokerbench/brokerbench/chaos"
	"github.com/brokerbench/brokerbench/refbroker"
)

// systemInfo describes a system for `brokerbench list` and --help.
type systemInfo struct {
	name, connection, notes string
}

// systemTable lists the systems in the order they are run.
var systemTable = []systemInfo{
	{"refbroker", "embedded", "the reference broker, started in-process on a loopback port with a temporary data dir (default)"},
	{"kafka", "BROKERBENCH_KAFKA_BROKERS or --kafka-brokers", "any Kafka-protocol cluster; TLS and SASL through BROKERBENCH_KAFKA_* (docs/adapters/kafka.md)"},
	{"rabbitmq", "BROKERBENCH_RABBITMQ_URL or --rabbitmq-url", "default amqp://guest:guest@127.0.0.1:5672/ (docs/adapters/rabbitmq.md)"},
	{"redis", "BROKERBENCH_REDIS_ADDR or --redis-addr", "Redis Streams, default 127.0.0.1:6379 (docs/adapters/redis.md)"},
	{"nats", "BROKERBENCH_NATS_URL or --nats-url", "NATS JetStream, default nats://127.0.0.1:4222 (docs/adapters/nats.md)"},
}

func knownSystem(name string) bool {
	for _, s := range systemTable {
		if s.name == name {
			return true
		}
	}
	return false
}

func systemNames() string {
	names := make([]string, len(systemTable))
	for i, s := range systemTable {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

// openSystem connects to (or, for refbroker, starts) a system, inside the
// fault environment env: through its proxies when runs have network
// faults, on a broker process the suite owns when they have process
// faults. The returned close function releases everything it started.
// getenv resolves BROKERBENCH_* settings, with command-line flags taking
// precedence.
func openSystem(ctx context.Context, name string, getenv func(string) string, logger *slog.Logger, env *faultEnv) (adapters.System, func() error, error) {
	if err := env.open(); err != nil {
		return nil, nil, err
	}
	sys, closeSys, err := openInEnv(ctx, name, getenv, logger, env)
	if err != nil {
		env.close()
		return nil, nil, err
	}
	return sys, func() error { return errors.Join(closeSys(), env.close()) }, nil
}

func openInEnv(ctx context.Context, name string, getenv func(string) string, logger *slog.Logger, env *faultEnv) (adapters.System, func() error, error) {
	switch name {
	case "refbroker":
		if env.process {
			return openRefbrokerProcess(ctx, env)
		}
		return openRefbroker(ctx, logger, env)
	case "kafka":
		cfg, err := kafka.ConfigFromEnv(getenv)
		if err != nil {
			return nil, nil, usageError{err}
		}
		if env.process {
			return nil, nil, usagef("process faults (kill, pause) need a broker brokerbench starts itself: use --system refbroker or redis")
		}
		cfg.Dialer = env.roleDialer()
		s, err := kafka.New(ctx, cfg)
		return closer(s, err)
	case "rabbitmq":
		cfg, err := rabbitmq.ConfigFromEnv(getenv)
		if err != nil {
			return nil, nil, usageError{err}
		}
		if env.process {
			return nil, nil, usagef("process faults (kill, pause) need a broker brokerbench starts itself: use --system refbroker or redis")
		}
		cfg.Dialer = env.roleDialer()
		s, err := rabbitmq.New(ctx, cfg)
		return closer(s, err)
	case "redis":
		return openRedis(ctx, getenv, env)
	case "nats":
		cfg, err := nats.ConfigFromEnv(getenv)
		if err != nil {
			return nil, nil, usageError{err}
		}
		if env.process {
			return nil, nil, usagef("process faults (kill, pause) need a broker brokerbench starts itself: use --system refbroker or redis")
		}
		cfg.Dialer = env.roleDialer()
		s, err := nats.New(ctx, cfg)
		return closer(s, err)
	}
	return nil, nil, usagef("unknown system %q: choose from %s", name, systemNames())
}

func closer[S adapters.System](s S, err error) (adapters.System, func() error, error) {
	if err != nil {
		return nil, nil, err
	}
	return s, s.Close, nil
}

// openRedis connects to the configured Redis or, for process faults, to a
// private redis-server on a free port with its own data directory and an
// fsync-always append-only file, so that a kill -9 loses nothing it
// acknowledged. The shared Redis is never killed.
func openRedis(ctx context.Context, getenv func(string) string, env *faultEnv) (adapters.System, func() error, error) {
	cfg, err := redis.ConfigFromEnv(getenv)
	if err != nil {
		return nil, nil, usageError{err}
	}
	if env.process {
		bin, err := exec.LookPath("redis-server")
		if err != nil {
			return nil, nil, usagef("process faults on redis start a private redis-server, but none is on $PATH")
		}
		port, err := chaos.FreePort("127.0.0.1")
		if err != nil {
			return nil, nil, err
		}
		dir, err := env.tempDir("brokerbench-redis-")
		if err != nil {
			return nil, nil, err
		}
		p, err := env.startProcess(ctx, chaos.RedisConfig(bin, dir, port, chaos.RedisFsyncAlways))
		if err != nil {
			return nil, nil, err
		}
		cfg.Addrs = []string{p.Addr()}
	}
	cfg.Dialer = env.roleDialer()
	s, err := redis.New(ctx, cfg)
	return closer(s, err)
}

// openRefbroker starts the embedded reference broker on a loopback
// ephemeral port with a temporary data dir, and the Kafka adapter on it.
// logger is the broker's own logger: the CLI passes one at warning level
// unless --verbose, since group and topic chatter would drown the progress
// lines.
func openRefbroker(ctx context.Context, logger *slog.Logger, env *faultEnv) (adapters.System, func() error, error) {
	dir, err := os.MkdirTemp("", "brokerbench-refbroker-")
	if err != nil {
		return nil, nil, fmt.Errorf("create refbroker data dir: %w", err)
	}
	b, err := refbroker.Start(ctx, refbroker.Config{
		DataDir: dir,
		Listen:  "127.0.0.1:0",
		Logger:  logger,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("start embedded refbroker: %w", err)
	}
	s, err := refbrokerAdapter(ctx, b.Addr(), "embedded, default fsync interval", env)
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

// openRefbrokerProcess runs refbroker as a subprocess on a fixed free port,
// so that process faults can kill and restart it on the same address and
// data directory. It fsyncs every append (--fsync always): a kill -9 then
// cannot lose anything acknowledged, which is what the conformance
// workloads check.
func openRefbrokerProcess(ctx context.Context, env *faultEnv) (adapters.System, func() error, error) {
	bin, err := refbrokerBinary()
	if err != nil {
		return nil, nil, err
	}
	port, err := chaos.FreePort("127.0.0.1")
	if err != nil {
		return nil, nil, err
	}
	dir, err := env.tempDir("brokerbench-refbroker-")
	if err != nil {
		return nil, nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if _, err := env.startProcess(ctx, chaos.RefbrokerConfig(bin, dir, addr, "--fsync", "always")); err != nil {
		return nil, nil, err
	}
	s, err := refbrokerAdapter(ctx, addr, "subprocess, fsync always", env)
	if err != nil {
		return nil, nil, err
	}
	return s, s.Close, nil
}

func refbrokerAdapter(ctx context.Context, addr, how string, env *faultEnv) (*kafka.Kafka, error) {
	cfg := kafka.Default()
	cfg.Name, cfg.Brokers = "refbroker", []string{addr}
	cfg.Server = "refbroker " + toolVersion + " (" + how + ")"
	cfg.Dialer = env.roleDialer()
	s, err := kafka.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to refbroker at %s: %w", addr, err)
	}
	return s, nil
}
