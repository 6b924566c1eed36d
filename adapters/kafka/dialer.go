package kafka

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/brokerbench/brokerbench/adapters"
)

// dialFunc opens one broker connection.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// newDialer returns the dial function a client of role uses: cfg.Dialer's
// for role (or a net.Dialer), routed through ks when non-nil, with TLS layered on top when
// enabled. kgo's DialTLSConfig cannot be combined with kgo.Dialer, so the
// adapter does TLS itself. ks tracks the raw connections, so that killing
// them is abrupt (no TLS close_notify), like a process dying.
func newDialer(cfg Config, role string, ks *killSwitch) (dialFunc, error) {
	tlsCfg, err := cfg.TLS.Build()
	if err != nil {
		return nil, err
	}
	timeout := cfg.DialTimeout
	if timeout == 0 {
		timeout = Config{}.Default().DialTimeout
	}
	raw := dialFunc((&net.Dialer{Timeout: timeout}).DialContext)
	if cfg.Dialer != nil {
		raw = cfg.Dialer(role)
	}
	if ks != nil {
		ks.dial = raw
		raw = ks.DialContext
	}
	if tlsCfg == nil {
		return raw, nil
	}
	secure := adapters.DialTLS(raw, tlsCfg)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return secure(ctx, network, addr)
	}, nil
}

// killSwitch tracks every connection a client opens so that Crash can drop
// them all at once and refuse new ones, as the death of the process would.
// It is safe for concurrent use.
type killSwitch struct {
	dial  dialFunc
	mu    sync.Mutex
	dead  bool
	conns map[*trackedConn]struct{}
}

// newKillSwitch returns a live switch; newDialer sets its dial function.
func newKillSwitch() *killSwitch {
	return &killSwitch{conns: make(map[*trackedConn]struct{})}
}

// DialContext dials through the wrapped dialer unless the switch is killed.
func (k *killSwitch) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	k.mu.Lock()
	dead := k.dead
	k.mu.Unlock()
	if dead {
		return nil, fmt.Errorf("dial %s: %w", addr, ErrCrashed)
	}
	conn, err := k.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: conn, owner: k}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		// Killed while dialing: the new connection must not survive.
		_ = conn.Close()
		return nil, fmt.Errorf("dial %s: %w", addr, ErrCrashed)
	}
	k.conns[tc] = struct{}{}
	return tc, nil
}

// kill closes every open connection and makes all later dials fail.
func (k *killSwitch) kill() {
	k.mu.Lock()
	k.dead = true
	conns := k.conns
	k.conns = make(map[*trackedConn]struct{})
	k.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

// open reports how many tracked connections are open.
func (k *killSwitch) open() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.conns)
}

// trackedConn removes itself from its killSwitch when closed.
type trackedConn struct {
	net.Conn
	owner *killSwitch
}

func (c *trackedConn) Close() error {
	c.owner.mu.Lock()
	delete(c.owner.conns, c)
	c.owner.mu.Unlock()
	return c.Conn.Close()
}
