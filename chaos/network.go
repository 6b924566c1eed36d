package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/rs/zerolog"
)

// Network is an embedded Toxiproxy: one TCP proxy per (role, upstream
// address), created on demand, through which network faults are injected.
// Roles (RoleProducers, RoleConsumers, RoleAdmin or any other non-empty
// name except TargetAll) let a fault cut one kind of client only: give each
// role its own [Network.Dialer], or rewrite each role's endpoint to the
// address [Network.Proxy] returns.
//
// A fault applies to every matching proxy, including proxies created while
// it is active (a Kafka client learning a new broker from metadata during a
// blackhole is blackholed too). All methods are safe for concurrent use.
type Network struct {
	server      *toxiproxy.ApiServer
	host        string
	dialTimeout time.Duration

	// mu guards everything below and serialises fault changes, so that a
	// proxy created concurrently with Inject or a heal sees exactly the set
	// of active faults. Toxic changes are quick (they interrupt per-link
	// goroutines), so dials wait at most briefly.
	mu      sync.Mutex
	closed  bool
	proxies map[proxyKey]*proxy
	active  map[uint64]FaultSpec
	nextID  uint64
}

type proxyKey struct{ role, upstream string }

// proxy is one Toxiproxy proxy and the number of active down faults on it.
type proxy struct {
	key   proxyKey
	tp    *toxiproxy.Proxy
	addr  string // listen address, fixed after the first start
	downs int
}

// NetworkOpt configures NewNetwork.
type NetworkOpt func(*networkConfig)

type networkConfig struct {
	host        string
	dialTimeout time.Duration
	log         io.Writer
}

// WithListenHost sets the host the proxies listen on. Default "127.0.0.1".
func WithListenHost(host string) NetworkOpt { return func(c *networkConfig) { c.host = host } }

// WithDialTimeout bounds each connection attempt made by Network.Dialer to
// a proxy. Default 10s.
func WithDialTimeout(d time.Duration) NetworkOpt {
	return func(c *networkConfig) { c.dialTimeout = d }
}

// WithProxyLog sends Toxiproxy's own log (JSON lines, info level) to w.
// Default: discarded.
func WithProxyLog(w io.Writer) NetworkOpt { return func(c *networkConfig) { c.log = w } }

// ProxyInfo describes one proxy of a Network.
type ProxyInfo struct {
	Role     string   // role the proxy serves
	Upstream string   // broker address it forwards to
	Listen   string   // address clients connect to
	Down     bool     // stopped by a down fault
	Toxics   []string // names of active toxics, sorted
}

// NewNetwork returns an empty Network; proxies are created by Proxy and by
// the dialers. Close it to stop every proxy.
func NewNetwork(opts ...NetworkOpt) (*Network, error) {
	cfg := networkConfig{host: "127.0.0.1", dialTimeout: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.dialTimeout <= 0 {
		return nil, fmt.Errorf("new network: dial timeout %v: must be positive", cfg.dialTimeout)
	}
	if ip := net.ParseIP(cfg.host); ip == nil && cfg.host != "localhost" {
		return nil, fmt.Errorf("new network: listen host %q: want an IP address or localhost", cfg.host)
	}
	logger := zerolog.Nop()
	if cfg.log != nil {
		logger = zerolog.New(cfg.log).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	}
	return &Network{
		server:      toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), logger),
		host:        cfg.host,
		dialTimeout: cfg.dialTimeout,
		proxies:     make(map[proxyKey]*proxy),
		active:      make(map[uint64]FaultSpec),
	}, nil
}

// Proxy returns the listen address of the proxy that forwards role's
// connections to upstream (host:port), starting it (with every active
// fault that matches role) if it does not exist yet.
func (n *Network) Proxy(ctx context.Context, role, upstream string) (string, error) {
	if role == "" || role == TargetAll {
		return "", fmt.Errorf("proxy for %s: role %q: want a role such as %s", upstream, role, RoleConsumers)
	}
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return "", fmt.Errorf("proxy for %s: upstream is not host:port: %w", upstream, err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("proxy for %s: %w", upstream, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return "", fmt.Errorf("proxy for %s: %w", upstream, ErrClosed)
	}
	key := proxyKey{role, upstream}
	if p, ok := n.proxies[key]; ok {
		return p.addr, nil
	}
	name := role + "->" + upstream
	tp := toxiproxy.NewProxy(n.server, name, net.JoinHostPort(n.host, "0"), upstream)
	if err := tp.Start(); err != nil {
		return "", fmt.Errorf("start proxy %s: %w", name, err)
	}
	// Later restarts (after a down fault) rebind this same address, so
	// endpoints rewritten to it stay valid.
	p := &proxy{key: key, tp: tp, addr: tp.Listen}
	n.proxies[key] = p
	for id, f := range n.active {
		if matches(f, role) {
			if err := n.applyLocked(p, id, f); err != nil {
				return "", fmt.Errorf("proxy %s: apply active fault %s: %w", name, f, err)
			}
		}
	}
	return p.addr, nil
}

// Dialer returns a dial function for role's clients that connects to the
// proxy for each address it is asked for, creating proxies on demand. Use
// it as the Kafka adapter's Config.Dialer so that connections to brokers
// learned from metadata are proxied too. Only TCP networks are supported.
func (n *Network) Dialer(role string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		switch network {
		case "tcp", "tcp4", "tcp6":
		default:
			return nil, fmt.Errorf("dial %s %s through chaos proxy: only tcp is proxied", network, addr)
		}
		paddr, err := n.Proxy(ctx, role, addr)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		d := net.Dialer{Timeout: n.dialTimeout}
		conn, err := d.DialContext(ctx, "tcp", paddr)
		if err != nil {
			return nil, fmt.Errorf("dial %s through proxy %s: %w", addr, paddr, err)
		}
		return conn, nil
	}
}

// Inject applies network fault f (which must be valid and of a network
// kind) to every proxy that f targets, now and created later, until the
// returned heal function is called. Heal is idempotent.
func (n *Network) Inject(ctx context.Context, f FaultSpec) (heal func(context.Context) error, err error) {
	f = f.Default()
	if !f.Kind.IsNetwork() {
		return nil, fmt.Errorf("inject %s: %w: not a network fault", f, ErrNoInjector)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("inject %s: %w", f, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("inject %s: %w", f, ErrClosed)
	}
	n.nextID++
	id := n.nextID
	n.active[id] = f
	var errs []error
	for _, p := range n.sortedLocked() {
		if matches(f, p.key.role) {
			if err := n.applyLocked(p, id, f); err != nil {
				errs = append(errs, fmt.Errorf("proxy %s->%s: %w", p.key.role, p.key.upstream, err))
			}
		}
	}
	heal = func(ctx context.Context) error { return n.heal(ctx, id) }
	if err := errors.Join(errs...); err != nil {
		// Leave nothing half-applied.
		return nil, errors.Join(fmt.Errorf("inject %s: %w", f, err), heal(ctx))
	}
	return heal, nil
}

// heal removes active fault id from every proxy it was applied to.
func (n *Network) heal(ctx context.Context, id uint64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, ok := n.active[id]
	if !ok {
		return nil
	}
	delete(n.active, id)
	var errs []error
	for _, p := range n.sortedLocked() {
		if matches(f, p.key.role) {
			if err := n.unapplyLocked(ctx, p, id, f); err != nil {
				errs = append(errs, fmt.Errorf("heal %s on proxy %s->%s: %w", f, p.key.role, p.key.upstream, err))
			}
		}
	}
	return errors.Join(errs...)
}

// HealAll removes every active fault and every toxic, and restarts every
// stopped proxy. The schedule calls it at the end as a safety net.
func (n *Network) HealAll(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	clear(n.active)
	var errs []error
	for _, p := range n.sortedLocked() {
		p.tp.Toxics.ResetToxics(ctx)
		if p.downs > 0 {
			p.downs = 0
			if err := p.tp.Start(); err != nil {
				errs = append(errs, fmt.Errorf("heal all: restart proxy %s: %w", p.tp.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Proxies describes every proxy, sorted by role then upstream.
func (n *Network) Proxies() []ProxyInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []ProxyInfo
	for _, p := range n.sortedLocked() {
		info := ProxyInfo{Role: p.key.role, Upstream: p.key.upstream, Listen: p.addr, Down: p.downs > 0}
		for _, t := range p.tp.Toxics.GetToxicArray() {
			if w, ok := t.(*toxics.ToxicWrapper); ok {
				info.Toxics = append(info.Toxics, w.Name)
			}
		}
		sort.Strings(info.Toxics)
		out = append(out, info)
	}
	return out
}

// Close stops every proxy, closing every proxied connection. Later calls
// to Proxy, Inject and the dialers fail with ErrClosed.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	for _, p := range n.proxies {
		p.tp.Stop()
	}
	return nil
}

// sortedLocked returns the proxies in a stable order, so that faults are
// applied and healed deterministically.
func (n *Network) sortedLocked() []*proxy {
	ps := make([]*proxy, 0, len(n.proxies))
	for _, p := range n.proxies {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].key.role != ps[j].key.role {
			return ps[i].key.role < ps[j].key.role
		}
		return ps[i].key.upstream < ps[j].key.upstream
	})
	return ps
}

func matches(f FaultSpec, role string) bool { return f.Target == TargetAll || f.Target == role }

// applyLocked puts fault id on proxy p: a stop for down, otherwise one
// toxic per direction, named so that heal can find them.
func (n *Network) applyLocked(p *proxy, id uint64, f FaultSpec) error {
	if f.Kind == KindDown {
		p.downs++
		if p.downs == 1 {
			p.tp.Stop()
		}
		return nil
	}
	typ, attrs := toxicOf(f)
	for _, dir := range streams(f.Direction) {
		body, err := json.Marshal(map[string]any{
			"name": toxicName(id, dir), "type": typ, "stream": dir, "toxicity": 1.0, "attributes": attrs,
		})
		if err != nil {
			return fmt.Errorf("encode %s toxic: %w", typ, err)
		}
		if _, err := p.tp.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
			return fmt.Errorf("add %s toxic %s: %w", typ, dir, err)
		}
	}
	return nil
}

// unapplyLocked undoes applyLocked. A down proxy restarts on its old
// address once no down fault covers it any more.
func (n *Network) unapplyLocked(ctx context.Context, p *proxy, id uint64, f FaultSpec) error {
	if f.Kind == KindDown {
		if p.downs == 0 {
			return nil // already healed by HealAll
		}
		p.downs--
		if p.downs == 0 {
			if err := p.tp.Start(); err != nil {
				return fmt.Errorf("restart proxy on %s: %w", p.addr, err)
			}
		}
		return nil
	}
	var errs []error
	for _, dir := range streams(f.Direction) {
		err := p.tp.Toxics.RemoveToxic(ctx, toxicName(id, dir))
		if err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
			errs = append(errs, fmt.Errorf("remove toxic %s: %w", toxicName(id, dir), err))
		}
	}
	return errors.Join(errs...)
}

// toxicOf maps a network fault to a Toxiproxy toxic type and attributes.
func toxicOf(f FaultSpec) (string, map[string]any) {
	switch f.Kind {
	case KindLatency:
		return "latency", map[string]any{"latency": f.Latency.D().Milliseconds(), "jitter": f.Jitter.D().Milliseconds()}
	case KindBandwidth:
		// Toxiproxy's rate is in KB/s of 1000 bytes (it sleeps
		// len/rate milliseconds per chunk).
		return "bandwidth", map[string]any{"rate": f.BytesPerSecond / 1000}
	case KindBlackhole:
		// timeout 0: drop everything and never close.
		return "timeout", map[string]any{"timeout": 0}
	default: // KindReset
		return "reset_peer", map[string]any{"timeout": 0}
	}
}

func streams(d Direction) []string {
	switch d {
	case DirUpstream:
		return []string{"upstream"}
	case DirDownstream:
		return []string{"downstream"}
	}
	return []string{"upstream", "downstream"}
}

func toxicName(id uint64, dir string) string { return "fault" + strconv.FormatUint(id, 10) + "-" + dir }
