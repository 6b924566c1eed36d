// Package memory is an in-memory adapters.System: topics are slices in this
// process, so tests of what sits above an adapter (the runner's phases and
// accounting) run without a network, and, inside a testing/synctest
// bubble, without wall time. [Faults] make it lose, duplicate or reorder
// chosen messages while acknowledging them, so a test can check that the
// runner counts exactly what the system did wrong.
//
// It behaves like a log: partitions keep every message in order with
// offsets, a subscription has one position per partition shared by its
// consumers, and the partitions are split round robin among a
// subscription's consumers, reassigned (with OnRevoked/OnAssigned) when
// one joins or leaves. It has no queue semantics and no broker-side lag.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// Faults choose messages the system mishandles; nil chooses none. Each is
// called once per Send, under the system's lock, so it may count.
type Faults struct {
	// Lose acknowledges the message but never stores it.
	Lose func(m *adapters.Message) bool
	// Duplicate stores the message twice.
	Duplicate func(m *adapters.Message) bool
	// Reorder holds the message back and stores it after the next message
	// of its partition (or at the producer's Flush or Close).
	Reorder func(m *adapters.Message) bool
	// Stall, when it returns more than 0, makes the consumer that reaches
	// the message wait that long before delivering it: a consumption
	// pause of its partitions (with one partition per consumer, of that
	// partition only).
	Stall func(m *adapters.Message) time.Duration
}

// Config configures a System.
type Config struct {
	// Name is the system's name in results. Default "memory".
	Name string
	// Faults are applied to every send.
	Faults Faults

	_ struct{}
}

// System is the in-memory system. It is safe for concurrent use.
type System struct {
	cfg Config

	mu      sync.Mutex
	topics  map[string]*topic
	changed chan struct{} // closed and replaced on every append or membership change
}

var _ adapters.System = (*System)(nil)

type topic struct {
	parts []*partition
	subs  map[string]*subscription
}

type partition struct {
	log  []record
	held *record // a message the Reorder fault holds back
}

type record struct {
	key, value []byte
	offset     int64
	stall      time.Duration
}

type subscription struct {
	next      []int64 // per partition: index of the next record to deliver
	consumers []*consumer
}

// New returns an empty system.
func New(cfg Config) *System {
	adapters.SetDefault(&cfg.Name, "memory")
	return &System{cfg: cfg, topics: map[string]*topic{}, changed: make(chan struct{})}
}

// Name returns Config.Name.
func (s *System) Name() string { return s.cfg.Name }

// Capabilities of an ordered log with consumer groups and rebalances.
func (s *System) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{
		Partitions: true, Replay: true, ConsumerGroups: true, Rebalance: true,
		OrderedPartitions: true, Offsets: true,
	}
}

// Info describes the in-memory system.
func (s *System) Info(context.Context) (adapters.Info, error) {
	return adapters.Info{Server: "brokerbench in-memory system", Client: "adapters/memory", Endpoint: "memory"}, nil
}

// CreateTopic creates spec's partitions; the same count again is no error.
func (s *System) CreateTopic(_ context.Context, spec adapters.TopicSpec) error {
	if spec.Partitions < 1 {
		return fmt.Errorf("create topic %q: %d partitions: %w", spec.Name, spec.Partitions, adapters.ErrBadPartition)
	}
	if spec.Queue || spec.MaxDeliveries != 0 || spec.DeadLetter {
		return fmt.Errorf("create topic %q: queue settings: %w: the in-memory system is a log", spec.Name, adapters.ErrNotApplicable)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.topics[spec.Name]; ok {
		if len(t.parts) != spec.Partitions {
			return fmt.Errorf("create topic %q with %d partitions: has %d: %w", spec.Name, spec.Partitions, len(t.parts), adapters.ErrTopicMismatch)
		}
		return nil
	}
	t := &topic{subs: map[string]*subscription{}}
	for range spec.Partitions {
		t.parts = append(t.parts, &partition{})
	}
	s.topics[spec.Name] = t
	return nil
}

// DeleteTopic forgets the topic; a missing topic is no error.
func (s *System) DeleteTopic(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.topics, name)
	s.broadcastLocked()
	return nil
}

// Close does nothing: producers and consumers are closed on their own.
func (s *System) Close() error { return nil }

// broadcastLocked wakes every consumer waiting for a change.
func (s *System) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *System) topic(name string) (*topic, error) {
	t, ok := s.topics[name]
	if !ok {
		return nil, fmt.Errorf("topic %q: %w", name, adapters.ErrTopicNotFound)
	}
	return t, nil
}

// appendLocked stores r in p, releasing a held-back message after it.
func (p *partition) appendLocked(r record) {
	p.log = append(p.log, r)
	if p.held != nil {
		p.log = append(p.log, *p.held)
		p.held = nil
	}
}

// releaseHeld stores every held-back message of every topic.
func (s *System) releaseHeld() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.topics {
		for _, p := range t.parts {
			if p.held != nil {
				p.log = append(p.log, *p.held)
				p.held = nil
			}
		}
	}
	s.broadcastLocked()
}

// assignment is the partitions c owns in sub: round robin by position in
// the subscription's consumer list.
func (sub *subscription) assignment(c *consumer, partitions int) []int32 {
	i := slices.Index(sub.consumers, c)
	if i < 0 {
		return nil
	}
	var ps []int32
	for p := i; p < partitions; p += len(sub.consumers) {
		ps = append(ps, int32(p))
	}
	return ps
}
