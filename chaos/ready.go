package chaos

import (
	"context"
	"fmt"
	"net"
)

// TCPReady reports whether addr accepts TCP connections. It is the default
// ProcessConfig.Ready, and enough for a broker that listens only after
// recovering its data.
func TCPReady(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	return conn.Close()
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
