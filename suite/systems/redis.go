package systems

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/redis"
	"github.com/brokerbench/brokerbench/chaos"
)

func redisSystem() System {
	return System{
		Name:         "redis",
		EnvPrefix:    redis.EnvPrefix,
		Notes:        "Redis Streams, default 127.0.0.1:6379 (docs/adapters/redis.md)",
		Flags:        []Flag{{"redis-addr", "ADDR", "Redis address host:port"}},
		Settings:     redis.EnvSettings,
		Capabilities: redis.CapabilityVariants,
		Open:         openRedis,
		Process: func(dataDir string, port int) (chaos.ProcessConfig, error) {
			bin, err := exec.LookPath("redis-server")
			if err != nil {
				return chaos.ProcessConfig{}, Setupf("process faults on redis start a private redis-server, but none is on $PATH")
			}
			// fsync always: a kill -9 then loses nothing acknowledged.
			return RedisProcess(bin, dataDir, port, RedisFsyncAlways), nil
		},
	}
}

// openRedis connects to the configured Redis or, for process faults, to
// the private redis-server brokerbench started; the shared Redis is never
// killed.
func openRedis(ctx context.Context, o OpenOptions) (adapters.System, func() error, error) {
	cfg, err := redis.ConfigFromEnv(o.Getenv)
	if err != nil {
		return nil, nil, Setup(err)
	}
	if o.Owned != nil {
		cfg.Addrs = []string{o.Owned.Addr()}
	}
	cfg.Dialer = o.Dialer
	return closer(redis.New(ctx, cfg))
}

// RedisFsync selects a redis-server's durability in RedisProcess.
type RedisFsync string

// Redis durability settings.
const (
	// RedisNoPersistence: no append-only file and no snapshots; a kill
	// loses everything.
	RedisNoPersistence RedisFsync = ""
	// RedisFsyncAlways: append-only file, fsync before every reply; a
	// kill -9 loses nothing acknowledged.
	RedisFsyncAlways RedisFsync = "always"
	// RedisFsyncEverySec: append-only file, fsync once a second. A kill -9
	// of the process (not the machine) usually loses nothing acknowledged,
	// since Redis writes the file before replying and the data sits in the
	// page cache; but while a slow fsync is pending Redis may postpone that
	// write for up to 2s, and then acknowledged writes can be lost.
	RedisFsyncEverySec RedisFsync = "everysec"
)

// RedisProcess returns the ProcessConfig of a redis-server (bin, usually
// /usr/bin/redis-server) on 127.0.0.1:port with its own data directory and
// no RDB snapshots, with an append-only file unless fsync is
// RedisNoPersistence. Never point it at the shared Redis port 6379.
func RedisProcess(bin, dataDir string, port int, fsync RedisFsync) chaos.ProcessConfig {
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dataDir,
		"--save", "", "--daemonize", "no", "--protected-mode", "yes",
	}
	if fsync == RedisNoPersistence {
		args = append(args, "--appendonly", "no")
	} else {
		args = append(args, "--appendonly", "yes", "--appendfsync", string(fsync))
	}
	return chaos.ProcessConfig{
		Name:    "redis-server",
		Path:    bin,
		Args:    args,
		DataDir: dataDir,
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Ready:   RedisReady,
	}
}

// RedisReady reports whether a Redis server at addr answers PING with
// PONG; a server still loading its append-only file answers -LOADING and
// is not ready yet, though it already accepts connections.
func RedisReady(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(time.Second))
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return fmt.Errorf("ping %s: %w", addr, err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("ping %s: read reply: %w", addr, err)
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("ping %s: reply %q", addr, line)
	}
	return nil
}
