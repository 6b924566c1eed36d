package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

const testWait = 30 * time.Second

func unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// newTopic creates a topic on k and deletes it with t.
func newTopic(t *testing.T, k *Kafka, partitions int) string {
	t.Helper()
	return adaptertest.NewTopic(t, k, adapters.TopicSpec{Name: unique("kt"), Partitions: partitions})
}

// produceN sends n messages to each partition and waits for all of them.
func produceN(t *testing.T, k *Kafka, topic string, partitions, n int, cfg adapters.ProducerConfig) {
	t.Helper()
	ctx := testCtx(t)
	p, err := k.NewProducer(ctx, cfg)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	defer func() { _ = p.Close(ctx) }()
	var mu sync.Mutex
	var errs []error
	for i := range n {
		for part := range partitions {
			m := &adapters.Message{Topic: topic, Partition: int32(part), Key: []byte(fmt.Sprint(i)), Value: []byte("v")}
			p.Send(ctx, m, func(_ adapters.SendResult, err error) {
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// counter is a Handler that counts deliveries.
type counter struct {
	mu   sync.Mutex
	n    int
	seen map[string]int // "partition/offset" -> deliveries
}

func newCounter() *counter { return &counter{seen: make(map[string]int)} }

func (c *counter) handle(d *adapters.Delivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.seen[fmt.Sprintf("%d/%d", d.Partition, d.Offset)]++
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// committed returns the group's committed offset per partition of topic.
func committed(t *testing.T, k *Kafka, group, topic string) map[int32]int64 {
	t.Helper()
	offs, err := k.adm.FetchOffsets(testCtx(t), group)
	if err != nil {
		t.Fatalf("FetchOffsets(%s): %v", group, err)
	}
	out := make(map[int32]int64)
	for p, o := range offs[topic] {
		out[p] = o.At
	}
	return out
}

// members returns the group's member instance ids ("" for dynamic members).
func members(t *testing.T, k *Kafka, group string) []string {
	t.Helper()
	gs, err := k.adm.DescribeGroups(testCtx(t), group)
	if err != nil {
		t.Fatalf("DescribeGroups(%s): %v", group, err)
	}
	var out []string
	for _, m := range gs[group].Members {
		id := ""
		if m.InstanceID != nil {
			id = *m.InstanceID
		}
		out = append(out, id)
	}
	return out
}

func consumerCfg(topic, group string, h adapters.Handler) adapters.ConsumerConfig {
	return adapters.ConsumerConfig{
		ID: unique("c"), Topic: topic, Partitions: 2, Subscription: group,
		SessionTimeout: 6 * time.Second, Start: adapters.StartEarliest, Handler: h,
	}
}

func startConsumer(t *testing.T, k *Kafka, cfg adapters.ConsumerConfig) adapters.Consumer {
	t.Helper()
	c, err := k.NewConsumer(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	t.Cleanup(func() { _ = c.Crash() }) // no-op if the test closed it
	return c
}

func TestCommitModes(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, addrs []string) {
		tests := []struct {
			name     string
			mode     adapters.CommitMode
			interval time.Duration
		}{
			{"auto commits on its own schedule", adapters.CommitAuto, 100 * time.Millisecond},
			{"interval commits handled marks periodically", adapters.CommitInterval, 100 * time.Millisecond},
			{"interval default period", adapters.CommitInterval, 0},
			{"sync commits after every poll", adapters.CommitSync, 0},
			{"empty mode means interval", "", 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				k := newKafka(t, addrs)
				topic := newTopic(t, k, 2)
				group := unique("g")
				const n = 20
				produceN(t, k, topic, 2, n, adapters.ProducerConfig{Acks: adapters.AcksAll, Idempotent: true})
				h := newCounter()
				cfg := consumerCfg(topic, group, h.handle)
				cfg.Commit, cfg.CommitInterval = tc.mode, tc.interval
				c := startConsumer(t, k, cfg)
				adaptertest.WaitFor(t, testWait, "all messages handled", func() bool { return h.count() >= 2*n })
				// While the consumer runs, its mode alone must commit everything
				// handled (auto commits the previous poll, so it gets there too
				// once the idle poll loop comes round).
				adaptertest.WaitFor(t, testWait, "offsets committed while running", func() bool {
					got := committed(t, k, group, topic)
					return got[0] == n && got[1] == n
				})
				if err := c.Close(testCtx(t)); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if got := committed(t, k, group, topic); got[0] != n || got[1] != n {
					t.Errorf("committed after Close = %v, want %d per partition", got, n)
				}
			})
		}
	})
}

// TestCrashDoesNotCommitOrLeave checks that Crash acts like a killed
// process: handled but not yet committed offsets stay uncommitted, and the
// member stays in the group until its session times out.
func TestCrashDoesNotCommitOrLeave(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, addrs []string) {
		k := newKafka(t, addrs)
		topic := newTopic(t, k, 2)
		group := unique("g")
		const n = 10
		produceN(t, k, topic, 2, n, adapters.ProducerConfig{Acks: adapters.AcksAll})
		h := newCounter()
		cfg := consumerCfg(topic, group, h.handle)
		// Marks would be committed by the periodic commit, by the revoke on
		// leave and by Close; a long interval leaves only the latter two, which
		// Crash must both suppress.
		cfg.Commit, cfg.CommitInterval = adapters.CommitInterval, time.Hour
		c := startConsumer(t, k, cfg)
		adaptertest.WaitFor(t, testWait, "all messages handled", func() bool { return h.count() >= 2*n })
		if ms := members(t, k, group); len(ms) != 1 {
			t.Fatalf("members before crash = %v, want 1", ms)
		}
		start := time.Now()
		if err := c.Crash(); err != nil {
			t.Fatalf("Crash: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Crash took %v", d)
		}
		if open := c.(*consumer).ks.open(); open != 0 {
			t.Errorf("%d connections still open after Crash", open)
		}
		if err := c.Close(testCtx(t)); err != nil { // must be a no-op
			t.Errorf("Close after Crash: %v", err)
		}
		if got := committed(t, k, group, topic); len(got) != 0 {
			t.Errorf("committed after Crash = %v, want nothing", got)
		}
		// The crashed member is still there: no LeaveGroup was sent. It must
		// disappear by itself after the 6s session timeout.
		if ms := members(t, k, group); len(ms) != 1 && time.Since(start) < 5*time.Second {
			t.Errorf("members right after crash = %v, want the crashed member", ms)
		}
		adaptertest.WaitFor(t, testWait, "session timeout to evict the crashed member", func() bool {
			return len(members(t, k, group)) == 0
		})
		if d := time.Since(start); d < 5*time.Second {
			t.Errorf("crashed member left after %v, before its 6s session timeout: a LeaveGroup got through", d)
		}
	})
}

// TestStaticMembership checks InstanceID: the member is static, a graceful
// Close keeps its slot (no LeaveGroup), and a restart with the same id
// resumes from the commit.
func TestStaticMembership(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, addrs []string) {
		k := newKafka(t, addrs)
		topic := newTopic(t, k, 2)
		group := unique("g")
		const n = 10
		produceN(t, k, topic, 2, n, adapters.ProducerConfig{Acks: adapters.AcksAll})
		h := newCounter()
		cfg := consumerCfg(topic, group, h.handle)
		cfg.InstanceID = "static-1"
		c := startConsumer(t, k, cfg)
		adaptertest.WaitFor(t, testWait, "all messages handled", func() bool { return h.count() >= 2*n })
		if ms := members(t, k, group); !slices.Equal(ms, []string{"static-1"}) {
			t.Fatalf("members = %q, want [static-1]", ms)
		}
		if err := c.Close(testCtx(t)); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if ms := members(t, k, group); !slices.Equal(ms, []string{"static-1"}) {
			t.Errorf("members after Close of a static member = %q, want it kept until session timeout", ms)
		}
		produceN(t, k, topic, 2, n, adapters.ProducerConfig{Acks: adapters.AcksAll})
		h2 := newCounter()
		cfg.ID, cfg.Handler = unique("c"), h2.handle
		startConsumer(t, k, cfg)
		adaptertest.WaitFor(t, testWait, "restarted static member to handle the new messages", func() bool { return h2.count() >= 2*n })
		if got := h2.count(); got != 2*n {
			t.Errorf("restarted member handled %d messages, want exactly the %d new ones", got, 2*n)
		}
	})
}

func TestAssignors(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, addrs []string) {
		for _, a := range []adapters.Assignor{"", adapters.AssignCooperativeSticky, adapters.AssignRange, adapters.AssignRoundRobin, adapters.AssignSticky} {
			t.Run(string(a), func(t *testing.T) {
				t.Parallel()
				k := newKafka(t, addrs)
				topic := newTopic(t, k, 4)
				group := unique("g")
				type owned struct {
					mu sync.Mutex
					ps map[int32]bool
				}
				own := []*owned{{ps: map[int32]bool{}}, {ps: map[int32]bool{}}}
				for _, o := range own {
					cfg := consumerCfg(topic, group, func(*adapters.Delivery) {})
					cfg.Partitions, cfg.Assignor = 4, a
					cfg.OnAssigned = func(ps []int32) {
						o.mu.Lock()
						defer o.mu.Unlock()
						for _, p := range ps {
							o.ps[p] = true
						}
					}
					cfg.OnRevoked = func(ps []int32) {
						o.mu.Lock()
						defer o.mu.Unlock()
						for _, p := range ps {
							delete(o.ps, p)
						}
					}
					startConsumer(t, k, cfg)
				}
				adaptertest.WaitFor(t, testWait, "two members to own two partitions each", func() bool {
					total := 0
					for _, o := range own {
						o.mu.Lock()
						n := len(o.ps)
						o.mu.Unlock()
						if n != 2 {
							return false
						}
						total += n
					}
					return total == 4
				})
			})
		}
	})
}

func TestStartLatest(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, addrs []string) {
		k := newKafka(t, addrs)
		topic := newTopic(t, k, 1)
		produceN(t, k, topic, 1, 5, adapters.ProducerConfig{Acks: adapters.AcksAll})
		h := newCounter()
		cfg := consumerCfg(topic, unique("g"), h.handle)
		cfg.Start = adapters.StartLatest
		startConsumer(t, k, cfg)
		// The consumer resolves "latest" some time after joining, and
		// nothing observable says when; so keep publishing one message at
		// a time until it receives one. Whatever it receives must come
		// from after the first five.
		ctx := testCtx(t)
		p, err := k.NewProducer(ctx, adapters.ProducerConfig{Acks: adapters.AcksAll})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = p.Close(ctx) }()
		adaptertest.WaitFor(t, testWait, "a message published after the consumer started", func() bool {
			if h.count() > 0 {
				return true
			}
			p.Send(ctx, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("new")}, func(adapters.SendResult, error) {})
			return false
		})
		h.mu.Lock()
		defer h.mu.Unlock()
		for key := range h.seen {
			var p, off int
			if _, err := fmt.Sscanf(key, "%d/%d", &p, &off); err != nil || off < 5 {
				t.Errorf("StartLatest consumer saw %s, published before it started", key)
			}
		}
	})
}

func TestInvalidConsumerAndProducerConfig(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, addrs []string) {
		k := newKafka(t, addrs)
		ctx := testCtx(t)
		h := func(*adapters.Delivery) {}
		for name, cfg := range map[string]adapters.ConsumerConfig{
			"no topic":      {Subscription: "g", Handler: h},
			"no group":      {Topic: "t", Handler: h},
			"no handler":    {Topic: "t", Subscription: "g"},
			"bad assignor":  {Topic: "t", Subscription: "g", Handler: h, Assignor: "fair"},
			"bad mode":      {Topic: "t", Subscription: "g", Handler: h, Commit: "never"},
			"negative time": {Topic: "t", Subscription: "g", Handler: h, SessionTimeout: -1},
		} {
			if _, err := k.NewConsumer(ctx, cfg); !errors.Is(err, adapters.ErrInvalidConfig) {
				t.Errorf("consumer %s: err = %v, want adapters.ErrInvalidConfig", name, err)
			}
		}
		for name, cfg := range map[string]adapters.ProducerConfig{
			"idempotent needs acks=all": {Acks: adapters.AcksLeader, Idempotent: true},
			"unknown compression":       {Acks: adapters.AcksAll, Compression: "brotli"},
			"bad acks":                  {Acks: 2},
			"negative batch bytes":      {Acks: adapters.AcksAll, BatchBytes: -1},
		} {
			if _, err := k.NewProducer(ctx, cfg); !errors.Is(err, adapters.ErrInvalidConfig) {
				t.Errorf("producer %s: err = %v, want adapters.ErrInvalidConfig", name, err)
			}
		}
	})
}

func TestProducerOptions(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, addrs []string) {
		k := newKafka(t, addrs)
		tests := []adapters.ProducerConfig{
			{Acks: adapters.AcksNone},
			{Acks: adapters.AcksLeader, Compression: "gzip", Linger: 5 * time.Millisecond},
			{Acks: adapters.AcksAll, Idempotent: true, Compression: "snappy", BatchBytes: 64 << 10},
			{Acks: adapters.AcksAll, Compression: "lz4", MaxInFlight: 1},
			{Acks: adapters.AcksAll, Compression: "zstd", Linger: -1},
		}
		for _, cfg := range tests {
			t.Run(fmt.Sprintf("acks=%d/%s/idem=%t/inflight=%d", cfg.Acks, cfg.Compression, cfg.Idempotent, cfg.MaxInFlight), func(t *testing.T) {
				t.Parallel()
				topic := newTopic(t, k, 2)
				produceN(t, k, topic, 2, 20, cfg)
				// The messages are really there, in the requested partitions.
				// With acks=0 Flush returns once the request is written, so
				// the broker may still be appending: poll.
				adaptertest.WaitFor(t, testWait, "20 messages in each partition", func() bool {
					ends, err := k.adm.ListEndOffsets(testCtx(t), topic)
					if err != nil {
						return false
					}
					for p := range int32(2) {
						if o, _ := ends.Lookup(topic, p); o.Offset != 20 {
							return false
						}
					}
					return true
				})
			})
		}
	})
}

func TestCreateTopicMismatch(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, addrs []string) {
		k := newKafka(t, addrs)
		topic := newTopic(t, k, 2)
		err := k.CreateTopic(testCtx(t), adapters.TopicSpec{Name: topic, Partitions: 3})
		if !errors.Is(err, adapters.ErrTopicMismatch) {
			t.Fatalf("CreateTopic with other partitions: err = %v, want adapters.ErrTopicMismatch", err)
		}
		if err := k.CreateTopic(testCtx(t), adapters.TopicSpec{Name: "", Partitions: 1}); !errors.Is(err, adapters.ErrInvalidConfig) {
			t.Errorf("empty name: err = %v", err)
		}
	})
}

// TestPartitionerMatchesKafka checks the -1 (hash by key) path against
// kgo's Kafka-compatible StickyKeyPartitioner, and explicit partitions.
func TestPartitionerMatchesKafka(t *testing.T) {
	t.Parallel()
	ours := explicitPartitioner().ForTopic("t")
	ref := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := range 1000 {
		key := []byte(fmt.Sprintf("key-%d", i))
		r := &kgo.Record{Key: key, Partition: -1}
		if got, want := ours.Partition(r, 7), ref.Partition(&kgo.Record{Key: key}, 7); got != want {
			t.Fatalf("key %q: partition %d, want %d", key, got, want)
		}
	}
	if got := ours.Partition(&kgo.Record{Partition: 5, Key: []byte("x")}, 7); got != 5 {
		t.Errorf("explicit partition 5 routed to %d", got)
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, addrs []string) {
		k := newKafka(t, addrs)
		info, err := k.Info(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if info.Client != "github.com/twmb/franz-go v1.22.3" {
			t.Errorf("Client = %q", info.Client)
		}
		t.Logf("%+v", info)
	})
}
