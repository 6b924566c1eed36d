package group

import (
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Coordinator is the classic group coordinator of one refbroker. Every
// method is safe for concurrent use; JoinGroup and SyncGroup block their
// caller (not the coordinator) until their rebalance step completes.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	// mu guards everything below. It is the only lock in the package; it
	// is never held while a caller waits, and waiters are answered through
	// one-shot buffered channels so no send happens under mu that could
	// block.
	mu       sync.Mutex
	groups   map[string]*group
	store    *store // nil when Config.Dir is ""
	closed   bool
	nextWake time.Time // deadline the timer goroutine sleeps towards; zero = none

	kick chan struct{} // capacity 1: "deadlines changed, recompute"
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the timer goroutine exits
}

// New validates cfg, loads the committed offsets persisted in cfg.Dir (and
// compacts that log), and starts the timer goroutine. Close releases both.
func New(cfg Config) (*Coordinator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Coordinator{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "group"),
		groups: make(map[string]*group),
		kick:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if cfg.Dir != "" {
		st, loaded, err := openStore(cfg.Dir, cfg.Fsync, c.log)
		if err != nil {
			return nil, fmt.Errorf("open group offsets in %s: %w", cfg.Dir, err)
		}
		c.store = st
		c.restore(loaded)
	}
	go c.run()
	return c, nil
}

// restore rebuilds groups from recovered offsets. Restored groups are Empty:
// membership is not persisted, so members simply rejoin after a restart.
func (c *Coordinator) restore(loaded map[string]*groupOffsets) {
	for id, lg := range loaded {
		g := newGroup(id)
		g.protocolType = lg.protocolType
		g.offsets = lg.offsets
		c.groups[id] = g
	}
	if len(loaded) > 0 {
		c.log.Info("restored committed offsets", "groups", len(loaded))
	}
}

// Close answers every parked JoinGroup/SyncGroup with
// COORDINATOR_NOT_AVAILABLE, stops the timer goroutine and closes the
// offsets log. Later calls answer COORDINATOR_NOT_AVAILABLE. A second Close
// returns ErrClosed.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	for _, g := range c.groups {
		for _, m := range g.members {
			c.failWaiters(m, codeCoordinatorNotAvailable)
		}
	}
	var err error
	if c.store != nil {
		if cerr := c.store.close(); cerr != nil {
			err = fmt.Errorf("close group offsets: %w", cerr)
		}
	}
	c.mu.Unlock()
	close(c.quit)
	<-c.done
	return err
}

// run is the timer goroutine: it sleeps until the earliest deadline of any
// group, or until a transition announces an earlier one through kick, and
// then applies every expiry that is due.
func (c *Coordinator) run() {
	defer close(c.done)
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-c.kick:
		case <-t.C:
		}
		c.mu.Lock()
		now := c.cfg.Now()
		next := c.expireLocked(now)
		c.nextWake = next
		c.mu.Unlock()
		// Go 1.23+ timers: Stop/Reset discard a pending fire, so no
		// drain is needed.
		t.Stop()
		if !next.IsZero() {
			t.Reset(max(next.Sub(now), time.Millisecond))
		}
	}
}

// wakeBy makes sure the timer goroutine wakes no later than deadline.
// Called with mu held whenever a transition sets a deadline.
func (c *Coordinator) wakeBy(deadline time.Time) {
	if !c.nextWake.IsZero() && !deadline.Before(c.nextWake) {
		return
	}
	c.nextWake = deadline
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// expireLocked applies every expiry due at now in every group and returns
// the earliest deadline still ahead (zero if none). It is the whole of the
// coordinator's time-driven behaviour, so tests can drive it directly with
// a fake clock.
func (c *Coordinator) expireLocked(now time.Time) time.Time {
	var next time.Time
	for _, g := range c.groups {
		if d := c.expireGroup(g, now); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	return next
}

// expireGroup applies g's due expiries and returns its next deadline.
func (c *Coordinator) expireGroup(g *group, now time.Time) time.Time {
	for id, exp := range g.pending {
		if !now.Before(exp) {
			delete(g.pending, id)
			c.log.Debug("pending member expired", "group", g.id, "member", id)
			if g.state == StatePreparingRebalance {
				c.tryCompleteJoin(g, now)
			}
		}
	}
	if g.state == StatePreparingRebalance && !now.Before(g.joinDeadline) {
		c.onJoinDeadline(g, now)
	}
	if len(g.pendingSync) > 0 && !now.Before(g.syncDeadline) {
		c.onSyncDeadline(g, now)
	}
	for _, m := range g.sortedMembers() {
		if m.join == nil && m.sync == nil && !now.Before(m.sessionDeadline) && g.members[m.id] == m {
			c.log.Info("member session expired", "group", g.id, "member", m.id, "session_timeout", m.sessionTimeout)
			c.removeMemberAndUpdate(g, m, now, "session timeout")
		}
	}
	return g.nextDeadline()
}

// nextDeadline is the earliest pending expiry of g, or zero.
func (g *group) nextDeadline() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, exp := range g.pending {
		consider(exp)
	}
	if g.state == StatePreparingRebalance {
		consider(g.joinDeadline)
	}
	if len(g.pendingSync) > 0 {
		consider(g.syncDeadline)
	}
	for _, m := range g.members {
		if m.join == nil && m.sync == nil {
			consider(m.sessionDeadline)
		}
	}
	return next
}
