package refbroker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brokerbench/brokerbench/refbroker/group"
	"github.com/brokerbench/brokerbench/refbroker/share"
	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// Broker is a running reference broker. All methods are safe for
// concurrent use.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	adv    hostPort  // advertised address
	sec    *security // TLS, SASL users and ACLs of the listener
	topics *topicTable
	groups *group.Coordinator
	shares *share.Coordinator

	ctx    context.Context // done when the broker shuts down
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop, retention loop, connections

	// fetchWaiters counts fetches parked in a long poll; tests wait on
	// it instead of sleeping.
	fetchWaiters atomic.Int64
	// handlerPanics counts request handlers that panicked (and were
	// recovered); the fuzzers assert it stays 0.
	handlerPanics atomic.Int64
	// frames recycles request buffers too big for a connection to keep
	// (conn.go readBody, framepool.go).
	frames framePool
	// lastRefusedLog is when a refused connection was last logged (unix ns).
	lastRefusedLog atomic.Int64

	connMu sync.Mutex
	conns  map[*conn]struct{}

	closeOnce sync.Once
	closeErr  error
}

// Start validates cfg (after Default), opens the data directory, binds the
// listener and serves until Close is called or ctx is done. It logs one
// line with the address and data directory. A Broker stopped by ctx must
// still be closed to release its files and learn of close errors.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	cfg = cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sec, err := loadSecurity(cfg.Security, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("start refbroker: %w", err)
	}
	topics, err := openTopicTable(cfg.DataDir, cfg.ClusterID, cfg.RebuildMetadata, cfg.Storage, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("start refbroker: %w", err)
	}
	topics.quota = newCreateQuota(cfg.PartitionCreationsPerMinute, time.Now)
	groups, err := group.New(group.Config{
		Dir:                   filepath.Join(cfg.DataDir, "groups"),
		Fsync:                 cfg.Storage.Fsync == storage.FsyncAlways,
		InitialRebalanceDelay: cfg.GroupInitialRebalanceDelay,
		Logger:                cfg.Logger,
		PartitionExists: func(name string, p int32) bool {
			tp := topics.lookup(name)
			return tp != nil && p >= 0 && int(p) < len(tp.parts)
		},
	})
	if err != nil {
		_ = topics.closeAll()
		return nil, fmt.Errorf("start refbroker: open group coordinator: %w", err)
	}
	groups.PruneTopics(func(name string) bool { return topics.lookup(name) != nil })
	shares, err := share.New(share.Config{
		Dir:           filepath.Join(cfg.DataDir, "shares"),
		Fsync:         cfg.Storage.Fsync == storage.FsyncAlways,
		Topics:        shareTopics{topics},
		LockDuration:  cfg.ShareLockDuration,
		DeliveryLimit: cfg.ShareDeliveryLimit,
		Logger:        cfg.Logger,
	})
	if err != nil {
		_ = groups.Close()
		_ = topics.closeAll()
		return nil, fmt.Errorf("start refbroker: open share-group coordinator: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = shares.Close()
		_ = groups.Close()
		_ = topics.closeAll()
		return nil, fmt.Errorf("start refbroker: listen on %s: %w", cfg.Listen, err)
	}
	if sec.tls != nil {
		ln = tls.NewListener(ln, sec.tls)
	}
	advertise := cfg.Advertise
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	adv, err := splitHostPort(advertise)
	if err != nil { // the bound address always splits; Validate checked Advertise
		_ = ln.Close()
		_ = shares.Close()
		_ = groups.Close()
		_ = topics.closeAll()
		return nil, fmt.Errorf("start refbroker: advertise %q: %w", advertise, err)
	}
	b := &Broker{
		cfg: cfg, log: cfg.Logger, ln: ln, adv: adv, sec: sec,
		topics: topics, groups: groups, shares: shares,
		conns: make(map[*conn]struct{}),
	}
	// The broker's lifetime is its own: ctx only triggers shutdown, it
	// does not carry values or deadlines into request handling.
	b.ctx, b.cancel = context.WithCancel(context.WithoutCancel(ctx))
	b.wg.Add(2)
	go func() { defer b.wg.Done(); b.acceptLoop() }()
	go func() { defer b.wg.Done(); b.retentionLoop() }()
	// Watch ctx outside wg: Close waits for wg, and this goroutine may be
	// the one calling Close. It ends when the broker does.
	go func() {
		select {
		case <-ctx.Done():
			_ = b.Close()
		case <-b.ctx.Done():
		}
	}()
	b.log.Info("refbroker started", "addr", b.Addr(), "listen", ln.Addr().String(), "data_dir", cfg.DataDir)
	if cfg.Intercept != nil {
		b.log.Warn("refbroker: Config.Intercept is set: requests go through a test-only interceptor, which may break the broker's guarantees on purpose")
	}
	return b, nil
}

// Addr returns the host:port clients should dial: Config.Advertise, or the
// bound address (with the real port when Listen asked for port 0).
func (b *Broker) Addr() string {
	return net.JoinHostPort(b.adv.host, fmt.Sprint(b.adv.port))
}

// ClusterID returns the cluster ID reported in Metadata.
func (b *Broker) ClusterID() string { return b.topics.clusterID }

// Close shuts the broker down gracefully: it stops accepting, cancels
// blocked requests, closes every connection, then closes the group
// coordinator and every partition log (leaving clean-shutdown markers). It
// returns within about Config.ShutdownTimeout: if requests are still
// running then, it returns ErrShutdownTimeout without closing the logs
// (the next start recovers them as after a crash). It is idempotent;
// every call returns the first call's result.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		lnErr := b.ln.Close()
		b.connMu.Lock()
		for cc := range b.conns {
			_ = cc.nc.Close()
		}
		b.connMu.Unlock()
		if !waitTimeout(&b.wg, b.cfg.ShutdownTimeout) {
			// A handler ignores cancellation. Closing the logs under
			// it could corrupt what it still writes; not closing them
			// leaves no clean-shutdown marker, so the next start
			// recovers as after a crash, which loses nothing acked.
			b.closeErr = fmt.Errorf("%w: requests still running after %v; logs left for crash recovery", ErrShutdownTimeout, b.cfg.ShutdownTimeout)
			b.log.Error("refbroker: shutdown timed out", "err", b.closeErr)
			return
		}
		// Every connection is done: the pooled request buffers go now,
		// not a minute from now.
		b.frames.drop()
		var errs []error
		if lnErr != nil && !errors.Is(lnErr, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close listener: %w", lnErr))
		}
		if err := b.groups.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close group coordinator: %w", err))
		}
		if err := b.shares.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close share-group coordinator: %w", err))
		}
		if err := b.topics.closeAll(); err != nil {
			errs = append(errs, fmt.Errorf("close logs: %w", err))
		}
		b.closeErr = errors.Join(errs...)
		b.log.Info("refbroker stopped", "addr", b.Addr(), "err", b.closeErr)
	})
	return b.closeErr
}

// waitTimeout waits for wg for at most d and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// acceptLoop accepts connections until the listener closes. Temporary
// accept errors (EMFILE) back off instead of spinning.
func (b *Broker) acceptLoop() {
	var backoff time.Duration
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			b.log.Warn("refbroker: accept failed; backing off", "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-b.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		cc := newConn(b, nc)
		b.connMu.Lock()
		if b.ctx.Err() != nil {
			b.connMu.Unlock()
			_ = nc.Close()
			return
		}
		if len(b.conns) >= b.cfg.MaxConnections {
			b.connMu.Unlock()
			_ = nc.Close()
			b.logRefused(nc.RemoteAddr())
			continue
		}
		b.conns[cc] = struct{}{}
		b.wg.Add(1)
		b.connMu.Unlock()
		go func() {
			defer b.wg.Done()
			cc.serve(b.ctx)
			// KIP-932: a connection's share sessions end with it and
			// their members' acquired records are released.
			b.shares.ConnClosed(cc)
			b.connMu.Lock()
			delete(b.conns, cc)
			b.connMu.Unlock()
		}()
	}
}

// logRefused reports a connection refused for MaxConnections, at most
// once a second so that a flood of them cannot flood the log.
func (b *Broker) logRefused(addr net.Addr) {
	now := time.Now().UnixNano()
	if last := b.lastRefusedLog.Load(); now-last < int64(time.Second) || !b.lastRefusedLog.CompareAndSwap(last, now) {
		return
	}
	b.log.Warn("refbroker: connection limit reached; refusing connections", "max_connections", b.cfg.MaxConnections, "remote", addr)
}

// retentionLoop enforces retention on every partition log each
// RetentionCheckInterval.
func (b *Broker) retentionLoop() {
	t := time.NewTicker(b.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case now := <-t.C:
			b.enforceRetention(now)
		}
	}
}

// enforceRetention runs one retention pass; failures are logged, not
// fatal, since the next pass retries.
func (b *Broker) enforceRetention(now time.Time) {
	for _, tp := range b.topics.all() {
		for p, l := range tp.parts {
			if b.ctx.Err() != nil {
				return
			}
			if err := l.EnforceRetention(now); err != nil && !errors.Is(err, storage.ErrClosed) {
				b.log.Warn("refbroker: enforce retention", "topic", tp.name, "partition", p, "err", err)
			}
		}
	}
}
