package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// TCPReady reports whether addr accepts TCP connections. It is the default
// ProcessConfig.Ready, and enough for refbroker, which listens only after
// recovering its logs.
func TCPReady(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	return conn.Close()
}

// RedisReady reports whether a Redis server at addr answers PING with
// PONG; a server still loading its append-only file answers -LOADING and
// is not ready yet.
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

// FreePort returns a TCP port on host that was free a moment ago, for a
// process that must come back on the same port after a restart (so it
// cannot listen on :0 itself). Another process may take it in between;
// Start then fails clearly with the broker's own bind error.
func FreePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// RefbrokerConfig returns the ProcessConfig of a refbroker binary (built
// from ./cmd/refbroker) serving addr (host:port with a fixed port) from
// dataDir. extraArgs are appended, e.g. "--fsync=always".
func RefbrokerConfig(bin, dataDir, addr string, extraArgs ...string) ProcessConfig {
	args := append([]string{"--data-dir", dataDir, "--listen", addr}, extraArgs...)
	return ProcessConfig{
		Name:    "refbroker",
		Path:    bin,
		Args:    args,
		DataDir: dataDir,
		Addr:    addr,
		Ready:   TCPReady,
	}
}

// RedisFsync selects a redis-server's durability in RedisConfig.
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

// RedisConfig returns the ProcessConfig of a redis-server (bin, usually
// /usr/bin/redis-server) on 127.0.0.1:port with its own data directory and
// no RDB snapshots, with an append-only file unless fsync is
// RedisNoPersistence. Never point it at the shared Redis port 6379.
func RedisConfig(bin, dataDir string, port int, fsync RedisFsync) ProcessConfig {
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dataDir,
		"--save", "", "--daemonize", "no", "--protected-mode", "yes",
	}
	if fsync == RedisNoPersistence {
		args = append(args, "--appendonly", "no")
	} else {
		args = append(args, "--appendonly", "yes", "--appendfsync", string(fsync))
	}
	return ProcessConfig{
		Name:    "redis-server",
		Path:    bin,
		Args:    args,
		DataDir: dataDir,
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Ready:   RedisReady,
	}
}
