package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/kafka"
	"github.com/brokerbench/brokerbench/adapters/nats"
	"github.com/brokerbench/brokerbench/adapters/rabbitmq"
	"github.com/brokerbench/brokerbench/adapters/redis"
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

// openSystem connects to (or, for refbroker, starts) a system. The returned
// close function releases everything it started. getenv resolves
// BROKERBENCH_* settings, with command-line flags taking precedence.
func openSystem(ctx context.Context, name string, getenv func(string) string, logger *slog.Logger) (adapters.System, func() error, error) {
	switch name {
	case "refbroker":
		return openRefbroker(ctx, logger)
	case "kafka":
		cfg, err := kafka.ConfigFromEnv(getenv)
		if err != nil {
			return nil, nil, usageError{err}
		}
		s, err := kafka.New(ctx, cfg)
		return closer(s, err)
	case "rabbitmq":
		cfg, err := rabbitmq.ConfigFromEnv(getenv)
		if err != nil {
			return nil, nil, usageError{err}
		}
		s, err := rabbitmq.New(ctx, cfg)
		return closer(s, err)
	case "redis":
		cfg, err := redis.ConfigFromEnv(getenv)
		if err != nil {
			return nil, nil, usageError{err}
		}
		s, err := redis.New(ctx, cfg)
		return closer(s, err)
	case "nats":
		cfg, err := nats.ConfigFromEnv(getenv)
		if err != nil {
			return nil, nil, usageError{err}
		}
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

// openRefbroker starts the embedded reference broker on a loopback
// ephemeral port with a temporary data dir, and the Kafka adapter on it.
// logger is the broker's own logger: the CLI passes one at warning level
// unless --verbose, since group and topic chatter would drown the progress
// lines.
func openRefbroker(ctx context.Context, logger *slog.Logger) (adapters.System, func() error, error) {
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
	cfg := kafka.Default()
	cfg.Name, cfg.Brokers = "refbroker", []string{b.Addr()}
	cfg.Server = "refbroker " + toolVersion + " (embedded, default fsync interval)"
	s, err := kafka.New(ctx, cfg)
	if err != nil {
		b.Close()
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("connect to embedded refbroker: %w", err)
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
