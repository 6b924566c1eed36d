package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// member is one kgo group consumer with everything the group tests observe
// about it: the partitions it owns according to its own callbacks, how many
// partitions it has had revoked or lost, whether it ever led a rebalance,
// the group-session errors kgo reported, and its completed heartbeats.
type member struct {
	name string
	cl   *kgo.Client
	done chan struct{} // closed when the poll loop has exited

	led        atomic.Int32 // rebalances this member computed as leader
	heartbeats atomic.Int64 // heartbeat requests that got a response

	mu        sync.Mutex
	owned     map[int32]bool
	assigned  int // partitions ever assigned, summed over callbacks
	revoked   int // partitions ever revoked
	lost      int // partitions ever lost (fenced, session error)
	manageErr []error
	fetchErr  []error
}

// memberOpts configures newMember.
type memberOpts struct {
	addr, group, topic string
	balancer           kgo.GroupBalancer // nil: kgo's default cooperative-sticky
	instanceID         string            // "" for a dynamic member
	sessionTimeout     time.Duration     // 0: 10s
	seen               *valueSet         // consumed values are added here
}

// newMember starts a group consumer polling in its own goroutine; it is
// closed at cleanup if the test has not closed it.
func newMember(t testing.TB, name string, o memberOpts) *member {
	t.Helper()
	m := &member{name: name, owned: make(map[int32]bool), done: make(chan struct{})}
	bal := o.balancer
	if bal == nil {
		bal = kgo.CooperativeStickyBalancer()
	}
	if o.sessionTimeout == 0 {
		o.sessionTimeout = 10 * time.Second
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(o.group),
		kgo.ConsumeTopics(o.topic),
		kgo.Balancers(leaderSpy{GroupBalancer: bal, led: &m.led}),
		// A short heartbeat makes members notice rebalances quickly.
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.SessionTimeout(o.sessionTimeout),
		kgo.AutoCommitInterval(100 * time.Millisecond),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.OnPartitionsAssigned(m.onAssigned),
		kgo.OnPartitionsRevoked(m.onRevoked),
		kgo.OnPartitionsLost(m.onLost),
		kgo.WithHooks(m),
		kgo.ClientID(name),
	}
	if o.instanceID != "" {
		opts = append(opts, kgo.InstanceID(o.instanceID))
	}
	if os.Getenv("E2E_KGO_LOG") != "" { // debugging aid: kgo's group log
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, func() string { return name + " " })))
	}
	m.cl = newClient(t, o.addr, opts...)
	go m.poll(o.seen)
	t.Cleanup(m.close)
	return m
}

// poll consumes until the client is closed, recording values and errors.
func (m *member) poll(seen *valueSet) {
	defer close(m.done)
	for {
		fs := m.cl.PollFetches(context.Background())
		if fs.IsClientClosed() {
			return
		}
		fs.EachError(func(_ string, _ int32, err error) {
			m.mu.Lock()
			m.fetchErr = append(m.fetchErr, err)
			m.mu.Unlock()
		})
		if seen != nil {
			fs.EachRecord(func(r *kgo.Record) { seen.add(string(r.Value)) })
		}
	}
}

// close closes the client and waits for the poll loop to end. A dynamic
// member sends LeaveGroup; a static one (InstanceID) does not.
func (m *member) close() {
	m.cl.Close()
	<-m.done
}

func (m *member) onAssigned(_ context.Context, _ *kgo.Client, a map[string][]int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ps := range a {
		for _, p := range ps {
			m.owned[p] = true
			m.assigned++
		}
	}
}

func (m *member) onRevoked(_ context.Context, _ *kgo.Client, r map[string][]int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ps := range r {
		for _, p := range ps {
			delete(m.owned, p)
			m.revoked++
		}
	}
}

func (m *member) onLost(_ context.Context, _ *kgo.Client, l map[string][]int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ps := range l {
		for _, p := range ps {
			delete(m.owned, p)
			m.lost++
		}
	}
}

// OnGroupManageError implements kgo.HookGroupManageError: kgo calls it with
// the error that ended a group session (FENCED_INSTANCE_ID, for one).
func (m *member) OnGroupManageError(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.manageErr = append(m.manageErr, err)
}

// OnBrokerE2E implements kgo.HookBrokerE2E to count answered heartbeats:
// the static-membership test waits for a few more of them to be sure that
// no rebalance was signalled (REBALANCE_IN_PROGRESS arrives on a heartbeat).
func (m *member) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key == int16(kmsg.Heartbeat) && e.Err() == nil {
		m.heartbeats.Add(1)
	}
}

// snapshot returns the owned partitions (sorted) and the revoked and lost
// counters.
func (m *member) snapshot() (owned []int32, revoked, lost int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.owned)), m.revoked, m.lost
}

// sawError reports whether kgo surfaced target through the manage-error hook
// and through a fetch error (ErrGroupSession), separately.
func (m *member) sawError(target error) (hook, fetch bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, err := range m.manageErr {
		hook = hook || errors.Is(err, target)
	}
	for _, err := range m.fetchErr {
		var gs *kgo.ErrGroupSession
		fetch = fetch || (errors.As(err, &gs) && errors.Is(err, target))
	}
	return hook, fetch
}

// generation is the member's current group generation as kgo knows it.
func (m *member) generation() int32 {
	_, gen := m.cl.GroupMetadata()
	return gen
}

// leaderSpy wraps a balancer to count the rebalances this member led: kgo
// calls MemberBalancer only on the group leader.
type leaderSpy struct {
	kgo.GroupBalancer
	led *atomic.Int32
}

// MemberBalancer counts the call and delegates to the wrapped balancer.
func (s leaderSpy) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	s.led.Add(1)
	return s.GroupBalancer.MemberBalancer(members)
}

// valueSet counts consumed values; safe for concurrent use.
type valueSet struct {
	mu sync.Mutex
	n  map[string]int
}

func newValueSet() *valueSet { return &valueSet{n: make(map[string]int)} }

func (s *valueSet) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[v]++
}

// missing returns the values of want not yet seen, at most 5 of them.
func (s *valueSet) missing(want []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, v := range want {
		if s.n[v] == 0 {
			out = append(out, v)
			if len(out) == 5 {
				break
			}
		}
	}
	return out
}

// groupSettled reports whether the group is Stable with exactly members,
// every member's callback view equals its assignment as described by the
// broker, and the members own all partitions [0, partitions) disjointly
// and evenly. It returns a description of the first unmet condition.
func groupSettled(ctx context.Context, adm *kadm.Client, group, topic string, partitions int, members []*member) string {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Sprintf("describe: %v", err)
	}
	dg := described[group]
	if dg.Err != nil || dg.State != "Stable" || len(dg.Members) != len(members) {
		return fmt.Sprintf("group state %q with %d members (err %v), want Stable with %d", dg.State, len(dg.Members), dg.Err, len(members))
	}
	byID := make(map[string][]int32, len(dg.Members))
	for _, dm := range dg.Members {
		var ps []int32
		if c, ok := dm.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				if t.Topic == topic {
					ps = append(ps, t.Partitions...)
				}
			}
		}
		slices.Sort(ps)
		byID[dm.MemberID] = ps
	}
	owners := make(map[int32]string)
	for _, m := range members {
		id, _ := m.cl.GroupMetadata()
		owned, _, _ := m.snapshot()
		if d, ok := byID[id]; !ok || !slices.Equal(d, owned) {
			return fmt.Sprintf("%s (member %q) owns %v by its callbacks, broker describes %v (known: %t)", m.name, id, owned, d, ok)
		}
		if len(owned) != partitions/len(members) && len(owned) != (partitions+len(members)-1)/len(members) {
			return fmt.Sprintf("%s owns %v: not balanced", m.name, owned)
		}
		for _, p := range owned {
			if other, dup := owners[p]; dup {
				return fmt.Sprintf("partition %d owned by %s and %s", p, other, m.name)
			}
			owners[p] = m.name
		}
	}
	if len(owners) != partitions {
		return fmt.Sprintf("%d of %d partitions owned", len(owners), partitions)
	}
	return ""
}

// waitSettled waits until groupSettled holds.
func waitSettled(t testing.TB, adm *kadm.Client, group, topic string, partitions int, members ...*member) {
	t.Helper()
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		last = groupSettled(ctx, adm, group, topic, partitions, members)
		cancel()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never settled with %d members: %s", group, len(members), last)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
