package share

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Coordinator owns every share group, share session and share-partition.
// All methods are safe for concurrent use.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	groups   map[string]*group
	sessions map[sessionKey]*session
	st       *store
	closed   bool
	// changed is closed (and replaced) whenever records may have become
	// acquirable without a produce: a release, an expiry, a session
	// close. Parked ShareFetch requests wait on it.
	changed chan struct{}
	// scheduled is the deadline the timer goroutine sleeps until; an
	// operation that creates an earlier one wakes it.
	scheduled time.Time

	wake chan struct{} // buffered(1): "recompute the next deadline"
	stop chan struct{}
	done chan struct{}
}

// group is one share group.
type group struct {
	id      string
	epoch   int32
	members map[string]*member
	parts   map[tp]*partState
	configs map[string]string
}

// member is one share-group member.
type member struct {
	id              string
	epoch, previous int32
	subs            []string // sorted
	assigned        map[[16]byte][]int32
	rack            *string
	ci              ClientInfo
	deadline        time.Time // session expiry
}

// sessionKey identifies a share session: KIP-932 keys sessions by member
// and connection, so the same member on two connections has two.
type sessionKey struct {
	group, member string
	conn          any
}

// session is a share session: its epoch and partitions.
type session struct {
	epoch int32
	parts map[tp]struct{}
}

// New recovers the share state in cfg.Dir and starts the timer goroutine.
func New(cfg Config) (*Coordinator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	st, ld, err := openStore(cfg.Dir, cfg.Fsync, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("open share state: %w", err)
	}
	c := &Coordinator{
		cfg: cfg, log: cfg.Logger, st: st,
		groups:   make(map[string]*group),
		sessions: make(map[sessionKey]*session),
		changed:  make(chan struct{}),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for id, cfgs := range ld.configs {
		c.getOrCreate(id).configs = cfgs
	}
	for id, parts := range ld.parts {
		c.getOrCreate(id).parts = parts
	}
	go c.run()
	return c, nil
}

// getOrCreate returns the group, creating an empty one.
func (c *Coordinator) getOrCreate(id string) *group {
	g := c.groups[id]
	if g == nil {
		g = &group{id: id, members: make(map[string]*member), parts: make(map[tp]*partState), configs: make(map[string]string)}
		c.groups[id] = g
	}
	return g
}

// Close stops the timer goroutine and closes the state log. Later calls
// return nil; methods called after Close answer with errors.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.stop)
	c.broadcastLocked()
	c.mu.Unlock()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.close()
}

// Changed returns a channel closed the next time records of some share
// group may have become acquirable other than by a produce (a release,
// an expired lock, a closed session) or the coordinator closes. Take it
// before trying to acquire, so no wakeup is lost.
func (c *Coordinator) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// broadcastLocked wakes every Changed waiter.
func (c *Coordinator) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// scheduleLocked makes the timer goroutine wake by t.
func (c *Coordinator) scheduleLocked(t time.Time) {
	if c.scheduled.IsZero() || t.Before(c.scheduled) {
		c.scheduled = t
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// run is the timer goroutine: it sleeps until the earliest member session
// or lock deadline and expires what is due.
func (c *Coordinator) run() {
	defer close(c.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		c.mu.Lock()
		next := c.expireLocked(c.cfg.Now())
		c.scheduled = next
		c.mu.Unlock()
		d := time.Hour
		if !next.IsZero() {
			d = max(time.Until(next), time.Millisecond)
		}
		t.Reset(d)
		select {
		case <-c.stop:
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

// expireLocked fences members whose session expired, releases expired
// locks and returns the earliest remaining deadline (zero if none).
func (c *Coordinator) expireLocked(now time.Time) time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	released := false
	for _, g := range c.groups {
		for id, m := range g.members {
			if !now.Before(m.deadline) {
				c.log.Info("share group member session expired", "group", g.id, "member", id)
				released = c.removeMemberLocked(g, m) || released
				continue
			}
			earliest(m.deadline)
		}
		limit := c.deliveryLimit(g)
		var touched []tp
		for k, p := range g.parts {
			r, n := p.expire(now, limit)
			released = released || r
			earliest(n)
			if p.pending() {
				touched = append(touched, k)
			}
		}
		if err := c.flushLocked(g, touched); err != nil {
			c.log.Warn("share: persist expired locks", "group", g.id, "err", err)
		}
	}
	if released {
		c.broadcastLocked()
	}
	return next
}

// removeMemberLocked removes m from g with its sessions and releases its
// records. It reports whether any record became available.
func (c *Coordinator) removeMemberLocked(g *group, m *member) bool {
	delete(g.members, m.id)
	g.epoch++
	for k := range c.sessions {
		if k.group == g.id && k.member == m.id {
			delete(c.sessions, k)
		}
	}
	limit := c.deliveryLimit(g)
	released := false
	var touched []tp
	for k, p := range g.parts {
		released = p.releaseMember(m.id, limit) || released
		if p.pending() {
			touched = append(touched, k)
		}
	}
	if err := c.flushLocked(g, touched); err != nil {
		c.log.Warn("share: persist released records", "group", g.id, "member", m.id, "err", err)
	}
	return released
}

// ConnClosed drops every share session of the connection conn and
// releases the records their members acquired on those sessions'
// partitions, as Kafka does when a connection goes away. The broker calls
// it when a connection ends; conn is the value it passed to StartFetch
// and Acknowledge.
func (c *Coordinator) ConnClosed(conn any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	released := false
	for k, s := range c.sessions {
		if k.conn != conn {
			continue
		}
		delete(c.sessions, k)
		if g := c.groups[k.group]; g != nil {
			released = c.releaseSessionLocked(g, k.member, s) || released
		}
	}
	if released {
		c.broadcastLocked()
	}
}

// releaseSessionLocked releases member's records on the session's
// partitions.
func (c *Coordinator) releaseSessionLocked(g *group, memberID string, s *session) bool {
	limit := c.deliveryLimit(g)
	released := false
	var touched []tp
	for key := range s.parts {
		if p := g.parts[key]; p != nil {
			released = p.releaseMember(memberID, limit) || released
			if p.pending() {
				touched = append(touched, key)
			}
		}
	}
	if err := c.flushLocked(g, touched); err != nil {
		c.log.Warn("share: persist released records", "group", g.id, "member", memberID, "err", err)
	}
	return released
}

// flushLocked writes the pending changes of touched partitions of g as
// one append. On failure every change is rolled back, so memory never
// claims more than the log holds.
func (c *Coordinator) flushLocked(g *group, touched []tp) error {
	if len(touched) == 0 {
		return nil
	}
	var frames []frame
	for _, k := range touched {
		spso, entries, ok := g.parts[k].changes()
		if ok {
			frames = append(frames, frame{kind: kindPartition, group: g.id, tp: k, spso: spso, entries: entries})
		}
	}
	if len(frames) > 0 {
		if err := c.st.append(frames); err != nil {
			for _, k := range touched {
				p := g.parts[k]
				if p.undoSPSO == -1 { // created by this change: forget it
					delete(g.parts, k)
					continue
				}
				p.rollback()
			}
			return err
		}
	}
	for _, k := range touched {
		g.parts[k].commit()
	}
	c.maybeCompactLocked()
	return nil
}

// DeleteTopic forgets the share state of a deleted topic (by topic ID) in
// every group and rewrites the state log without it, so that neither
// memory nor the log keeps records of a topic that no longer exists. The
// broker calls it from DeleteTopics; topic IDs are never reused, so a
// failed rewrite only leaves dead state behind, and is logged.
func (c *Coordinator) DeleteTopic(topic [16]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dropped := false
	for _, g := range c.groups {
		for k := range g.parts {
			if k.topic == topic {
				delete(g.parts, k)
				dropped = true
			}
		}
	}
	for _, s := range c.sessions {
		for k := range s.parts {
			if k.topic == topic {
				delete(s.parts, k)
			}
		}
	}
	if dropped {
		c.compactLocked()
	}
}

// maybeCompactLocked rewrites the log from memory once it has grown.
func (c *Coordinator) maybeCompactLocked() {
	if c.st.needsCompact() {
		c.compactLocked()
	}
}

// compactLocked rewrites the log from memory.
func (c *Coordinator) compactLocked() {
	configs := make(map[string]map[string]string, len(c.groups))
	parts := make(map[string]map[tp]*partState, len(c.groups))
	for id, g := range c.groups {
		configs[id], parts[id] = g.configs, g.parts
	}
	if err := c.st.rewrite(snapshotFrames(configs, parts)); err != nil && !errors.Is(err, ErrStoreBroken) {
		c.log.Warn("share: compact state log; will retry", "err", err)
	}
}
