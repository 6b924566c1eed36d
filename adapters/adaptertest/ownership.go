package adaptertest

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// ownership watches the handlers of every member of one subscription: a
// partition must be handled by one member at a time, by a member that owns
// it (OnAssigned, not yet OnRevoked) while no other member does, and in
// order (no first delivery below one already handled).
type ownership struct {
	asg []*Assignment

	mu       sync.Mutex
	inside   map[int32]int    // partition -> member inside a handler of it
	last     map[int32]uint32 // highest seq handled per partition
	seen     map[msgID]bool
	dups     int
	owners   map[int32][]int // members that handled each partition, in turn
	problems []string
}

func newOwnership(members int) *ownership {
	o := &ownership{inside: make(map[int32]int), last: make(map[int32]uint32), seen: make(map[msgID]bool),
		owners: make(map[int32][]int)}
	for range members {
		o.asg = append(o.asg, &Assignment{})
	}
	return o
}

func (o *ownership) problem(format string, args ...any) {
	if len(o.problems) < 20 {
		o.problems = append(o.problems, fmt.Sprintf(format, args...))
	}
}

// handler is member's Handler; after runs, if set, once the delivery is
// recorded, still inside the handler.
func (o *ownership) handler(member int, after func()) adapters.Handler {
	return func(d *adapters.Delivery) {
		id, ok := parseKey(d.Key)
		p := d.Partition
		o.mu.Lock()
		switch {
		case !ok:
			o.problem("member %d: partition %d offset %d: key %x the suite did not send", member, p, d.Offset, d.Key)
		default:
			if other, busy := o.inside[p]; busy {
				o.problem("member %d handles %v while member %d is inside a handler of partition %d", member, id, other, p)
			}
			if !slices.Contains(o.asg[member].Partitions(), p) {
				o.problem("member %d handles %v of partition %d, which it does not own", member, id, p)
			}
			for i, a := range o.asg {
				if i != member && slices.Contains(a.Partitions(), p) {
					o.problem("member %d handles %v while member %d owns partition %d too", member, id, i, p)
				}
			}
			if o.seen[id] {
				o.dups++
			} else {
				if last, ok := o.last[p]; ok && id.seq < last {
					o.problem("partition %d: %v handled by member %d after #%d (reorder)", p, id, member, last)
				}
				o.last[p] = max(o.last[p], id.seq)
				o.seen[id] = true
			}
			if ow := o.owners[p]; len(ow) == 0 || ow[len(ow)-1] != member {
				o.owners[p] = append(ow, member)
			}
			o.inside[p] = member
		}
		o.mu.Unlock()
		if after != nil {
			after()
		}
		o.mu.Lock()
		if o.inside[p] == member {
			delete(o.inside, p)
		}
		o.mu.Unlock()
	}
}

func (o *ownership) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

// testPartitionOwnership: three members of one subscription consume a
// partitioned topic; one leaves (gracefully, while its handler is busy) in
// the middle. Every partition is handled by one member at a time, only by
// its owner, in order, across the rebalance, and nothing is lost.
func testPartitionOwnership(t *testing.T, s *suite) {
	sys := s.system(t)
	caps := sys.Capabilities()
	if !caps.ConsumerGroups || !caps.Rebalance || !caps.OrderedPartitions {
		t.Skip("not applicable: needs ConsumerGroups, Rebalance and OrderedPartitions")
	}
	parts := max(s.partitionsFor(sys), 4)
	sub := newSubscription()
	topic := s.newTopic(t, sys, parts, sub)
	const members = 3
	o := newOwnership(members)
	// Member 0 stops inside its handler at its 5th delivery until its
	// Close has begun, so the handover happens mid-stream and Close has
	// to wait for the handler.
	gate, atGate := make(chan struct{}), make(chan struct{})
	var handled0 atomic.Int64 // member 0's handlers run on a goroutine per partition
	cs := make([]*consumer, members)
	for i := range members {
		cfg := s.consumerConfig(topic, parts, sub, nil)
		var after func()
		if i == 0 {
			after = func() {
				if handled0.Add(1) == 5 {
					close(atGate)
					<-gate
				}
			}
		}
		cfg.Handler = o.handler(i, after)
		cfg.Prefetch = 10
		cfg.OnAssigned, cfg.OnRevoked = o.asg[i].Assigned, o.asg[i].Revoked
		cs[i] = s.startConsumer(t, sys, cfg)
	}
	WaitFor(t, s.wait, "the members to own disjoint partitions covering the topic", func() bool {
		return splitStable(parts, o.asg...)
	})
	s.produce(t, sys, topic, parts, 0, s.perPartition)
	select {
	case <-atGate:
	case <-time.After(s.wait):
		t.Fatalf("member 0 did not handle 5 messages within %v (owns %v)", s.wait, o.asg[0].Partitions())
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		cs[0].close(t, s.ctxFor(t))
	}()
	// Nothing depends on this delay for correctness; it makes it likely
	// that the rebalance is under way while member 0's handler is busy.
	time.AfterFunc(100*time.Millisecond, func() { close(gate) })
	s.produce(t, sys, topic, parts, s.perPartition, s.perPartition)
	<-closed
	want := parts * 2 * s.perPartition
	WaitFor(t, s.wait, fmt.Sprintf("all %d messages handled", want), func() bool { return o.count() >= want })
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, pr := range o.problems {
		t.Error(pr)
	}
	moved := 0
	for p := range int32(parts) {
		if len(o.owners[p]) > 1 {
			moved++
		}
	}
	t.Logf("owners per partition in turn: %v; %d redeliveries", o.owners, o.dups)
	if moved == 0 {
		t.Errorf("no partition changed owner when member 0 left (owners %v)", o.owners)
	}
}

// testCommitsReported: a member of a log system's subscription reports its
// commits (OnCommitted): per partition they never go backwards, never run
// ahead of what the Handler was given, and reach the end of the partition
// once everything is handled.
func testCommitsReported(t *testing.T, s *suite) {
	sys := s.system(t)
	caps := sys.Capabilities()
	if !caps.Replay || !caps.OrderedPartitions || !caps.ConsumerGroups {
		t.Skip("not applicable: offset commits need Replay, OrderedPartitions and ConsumerGroups")
	}
	parts := s.partitionsFor(sys)
	sub := newSubscription()
	topic := s.newTopic(t, sys, parts, sub)
	s.produce(t, sys, topic, parts, 0, s.perPartition)
	c := newCollector()
	var mu sync.Mutex
	committed := make(map[int32]int64)
	var problems []string
	cfg := s.consumerConfig(topic, parts, sub, c)
	cfg.OnCommitted = func(offsets map[int32]int64) {
		handled := make(map[int32]int64)
		for _, d := range c.snapshot() {
			handled[d.Partition] = max(handled[d.Partition], d.Offset+1)
		}
		mu.Lock()
		defer mu.Unlock()
		for p, off := range offsets {
			switch {
			case off < committed[p]:
				problems = append(problems, fmt.Sprintf("partition %d: commit %d after %d", p, off, committed[p]))
			case off > handled[p]:
				problems = append(problems, fmt.Sprintf("partition %d: commit %d ahead of the handled offsets (next %d)", p, off, handled[p]))
			}
			committed[p] = max(committed[p], off)
		}
	}
	s.startConsumer(t, sys, cfg)
	s.waitAll(t, allIDs(parts, 0, s.perPartition), c)
	end := make(map[int32]int64) // next offset after the last message
	for _, d := range c.snapshot() {
		if d.Offset < 0 {
			t.Fatalf("%s delivered partition %d without an offset; a system that commits offsets has them", sys.Name(), d.Partition)
		}
		end[d.Partition] = max(end[d.Partition], d.Offset+1)
	}
	WaitFor(t, s.wait, fmt.Sprintf("commits to reach the partitions' ends %v", end), func() bool {
		mu.Lock()
		defer mu.Unlock()
		for p, e := range end {
			if committed[p] < e {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	for _, pr := range problems {
		t.Error(pr)
	}
}

// testQueueAcksReported: a queue consumer of a system that reports acks
// (adapters.AckReporter) names through OnAcked, once each, exactly the
// deliveries its Handler accepted, each after the Handler saw it.
func testQueueAcksReported(t *testing.T, s *suite) {
	sys := s.system(t)
	requireQueue(t, sys)
	if _, ok := sys.(adapters.AckReporter); !ok {
		t.Skip("not applicable: the system does not report acks (adapters.AckReporter)")
	}
	parts := s.partitionsFor(sys)
	sub := newSubscription()
	topic := s.newQueueTopic(t, sys, parts, 0, false, sub)
	s.produce(t, sys, topic, parts, 0, s.perPartition)
	ref := func(id msgID) uint64 { return uint64(id.part)<<32 | uint64(id.seq) }
	var mu sync.Mutex
	handled := make(map[uint64]bool)
	acked := make(map[uint64]int)
	var problems []string
	cfg := s.queueConsumerConfig(topic, parts, sub, 0, func(d *adapters.Delivery) {
		id, ok := parseKey(d.Key)
		if !ok {
			return
		}
		mu.Lock()
		handled[ref(id)] = true
		mu.Unlock()
		d.Ref = ref(id)
	})
	cfg.OnAcked = func(p int32, refs []uint64) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range refs {
			if !handled[r] {
				problems = append(problems, fmt.Sprintf("partition %d: ref %#x acked before its Handler saw it", p, r))
			}
			if int32(r>>32) != p {
				problems = append(problems, fmt.Sprintf("ref %#x reported for partition %d", r, p))
			}
			acked[r]++
		}
	}
	s.startConsumer(t, sys, cfg)
	want := parts * s.perPartition
	WaitFor(t, s.wait, fmt.Sprintf("%d acks reported", want), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= want
	})
	mu.Lock()
	defer mu.Unlock()
	for _, id := range allIDs(parts, 0, s.perPartition) {
		if n := acked[ref(id)]; n != 1 {
			t.Errorf("%v: acked %d times, want 1", id, n)
		}
	}
	for _, pr := range problems {
		t.Error(pr)
	}
}
