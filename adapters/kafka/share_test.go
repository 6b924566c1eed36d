package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// shareLog records the deliveries of queue consumers by offset.
type shareLog struct {
	mu     sync.Mutex
	counts map[int64][]int // offset -> DeliveryCount of each delivery
	by     map[int64][]int // offset -> consumer index of each delivery
}

func newShareLog() *shareLog {
	return &shareLog{counts: make(map[int64][]int), by: make(map[int64][]int)}
}

func (l *shareLog) record(i int, d *adapters.Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := d.Offset
	l.counts[k] = append(l.counts[k], d.DeliveryCount)
	l.by[k] = append(l.by[k], i)
}

func (l *shareLog) deliveries(offset int64) (counts, by []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.counts[offset]...), append([]int(nil), l.by[offset]...)
}

// rawShareClient is a plain kgo share-group client of group on topic,
// closed with t, for checking what the adapter configured.
func rawShareClient(t *testing.T, addrs []string, group, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ShareGroup(group), kgo.ConsumeTopics(topic))
	if err != nil {
		t.Fatalf("create share client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// pollKey polls cl until a record with key arrives, failing on any record
// for which bad returns true. Other records are accepted.
func pollKey(t *testing.T, cl *kgo.Client, key string, bad func(*kgo.Record) bool) *kgo.Record {
	t.Helper()
	ctx := testCtx(t)
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("waiting for key %q: %v", key, err)
		}
		var got *kgo.Record
		for _, r := range fs.Records() {
			if bad != nil && bad(r) {
				t.Fatalf("unexpected delivery of %q (delivery count %d)", r.Key, r.DeliveryCount())
			}
			if string(r.Key) == key && got == nil {
				got = r
				continue
			}
			r.Ack(kgo.AckAccept)
		}
		if got != nil {
			return got
		}
	}
}

// TestShareGroupConfigRefbroker: NewConsumer with Queue sets the share
// group's start offset, lock duration and delivery limit, observed through
// refbroker's behaviour towards a plain kgo share client of the same group.
func TestShareGroupConfigRefbroker(t *testing.T) {
	t.Parallel()
	addrs := []string{newRefbroker(t).Addr()}
	k := newKafka(t, addrs)
	if !k.Capabilities().Queue {
		t.Fatal("refbroker serves share groups but Capabilities().Queue is false")
	}
	topic := newTopic(t, k, 1)
	group := unique("share")
	produceN(t, k, topic, 1, 1, adapters.ProducerConfig{Acks: adapters.AcksAll}) // key "0", before the group exists
	// The handler never returns before the Crash below, so the consumer
	// acknowledges nothing it fetched.
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	cfg := consumerCfg(topic, group, func(*adapters.Delivery) { <-hold })
	cfg.Queue, cfg.MaxDeliveries, cfg.SessionTimeout = true, 2, 1500*time.Millisecond
	c, err := k.NewConsumer(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("NewConsumer(Queue): %v", err)
	}
	if err := c.Crash(); err != nil {
		t.Fatalf("Crash: %v", err)
	}

	cl := rawShareClient(t, addrs, group, topic)
	ctx := testCtx(t)
	// share.auto.offset.reset=earliest: the record produced first arrives.
	// Its count may be 2 if the crashed consumer had acquired it.
	r := pollKey(t, cl, "0", nil)
	first := r.DeliveryCount()
	// share.record.lock.duration.ms=1500, not refbroker's 30s default.
	if left := time.Until(r.AcquisitionDeadline()); left <= 0 || left > 1500*time.Millisecond {
		t.Errorf("acquisition lock has %v left, want (0, 1.5s]", left)
	}
	r.Ack(kgo.AckRelease)
	if err := cl.FlushAcks(ctx); err != nil {
		t.Fatalf("FlushAcks: %v", err)
	}
	if first == 1 {
		r = pollKey(t, cl, "0", nil)
		if r.DeliveryCount() != 2 {
			t.Fatalf("released record came back with delivery count %d, want 2", r.DeliveryCount())
		}
		r.Ack(kgo.AckRelease)
		if err := cl.FlushAcks(ctx); err != nil {
			t.Fatalf("FlushAcks: %v", err)
		}
	}
	// share.delivery.count.limit=2: released twice, the record is archived
	// by the broker and never comes back, while newer records flow.
	produceN(t, k, topic, 1, 2, adapters.ProducerConfig{Acks: adapters.AcksAll}) // keys "0" and "1"
	pollKey(t, cl, "1", func(r *kgo.Record) bool { return string(r.Key) == "0" && r.Offset == 0 })
}

// TestShareGroupConfigKfake: kfake stores the group configs NewConsumer
// sets and describes them (it honours only share.auto.offset.reset per
// group, which is why the adapter enforces the delivery limit itself).
func TestShareGroupConfigKfake(t *testing.T) {
	t.Parallel()
	addrs := newCluster(t).ListenAddrs()
	k := newKafka(t, addrs)
	topic := newTopic(t, k, 1)
	group := unique("share")
	cfg := consumerCfg(topic, group, func(*adapters.Delivery) {})
	cfg.Queue, cfg.MaxDeliveries, cfg.SessionTimeout, cfg.Start = true, 4, 7*time.Second, adapters.StartLatest
	c := startConsumer(t, k, cfg)
	if err := c.Close(testCtx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(testCtx(t), k.admin)
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("DescribeConfigs(group %s): %v %+v", group, err, resp)
	}
	got := make(map[string]string)
	for _, c := range resp.Resources[0].Configs {
		if c.Value != nil {
			got[c.Name] = *c.Value
		}
	}
	if _, err := k.Lag(testCtx(t), topic, group); !errors.Is(err, adapters.ErrNotApplicable) {
		t.Errorf("Lag of a share group: err %v, want ErrNotApplicable", err)
	}
	want := map[string]string{cfgShareReset: "latest", cfgShareLock: "7000", cfgShareLimit: "4"}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("group config %s = %q, want %q", name, got[name], v)
		}
	}
}

// TestShareLockExpiry: a record whose handler outlives the acquisition lock
// (SessionTimeout) is redelivered to another consumer with delivery count
// 2; the late accept of the first consumer is refused by the broker without
// harming either consumer.
func TestShareLockExpiry(t *testing.T) {
	t.Parallel()
	brokers := map[string]func(t *testing.T) []string{
		"refbroker": func(t *testing.T) []string { return []string{newRefbroker(t).Addr()} },
		// kfake ignores the per-group lock duration; set its broker default.
		"kfake": func(t *testing.T) []string {
			return newCluster(t, kfake.BrokerConfigs(map[string]string{
				"group.share.record.lock.duration.ms": "1000",
				"share.record.lock.sweep.interval.ms": "50",
			})).ListenAddrs()
		},
	}
	for name, start := range brokers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testShareLockExpiry(t, start(t))
		})
	}
}

func testShareLockExpiry(t *testing.T, addrs []string) {
	k := newKafka(t, addrs)
	topic := newTopic(t, k, 1)
	group := unique("share")
	log := newShareLog()
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	var entered atomic.Bool
	slow := consumerCfg(topic, group, func(d *adapters.Delivery) {
		log.record(0, d)
		entered.Store(true)
		<-gate
	})
	slow.Queue, slow.Partitions, slow.Prefetch, slow.SessionTimeout = true, 1, 1, time.Second
	produceN(t, k, topic, 1, 1, adapters.ProducerConfig{Acks: adapters.AcksAll}) // key "0"
	c0 := startConsumer(t, k, slow)
	adaptertest.WaitFor(t, testWait, "the slow handler to hold the record", entered.Load)

	fast := consumerCfg(topic, group, func(d *adapters.Delivery) { log.record(1, d) })
	fast.Queue, fast.Partitions, fast.SessionTimeout = true, 1, time.Second
	startConsumer(t, k, fast)
	adaptertest.WaitFor(t, testWait, "the record to be redelivered after its lock expired", func() bool {
		counts, _ := log.deliveries(0)
		return len(counts) >= 2
	})
	counts, by := log.deliveries(0)
	if fmt.Sprint(counts[:2]) != "[1 2]" || fmt.Sprint(by[:2]) != "[0 1]" {
		t.Fatalf("deliveries of the held record: counts %v by consumers %v, want [1 2] by [0 1]", counts, by)
	}
	// The slow consumer's late accept is refused by the broker.
	open()
	produceN(t, k, topic, 1, 2, adapters.ProducerConfig{Acks: adapters.AcksAll}) // offsets 1 and 2
	adaptertest.WaitFor(t, testWait, "later records to be delivered", func() bool {
		c1, _ := log.deliveries(1)
		c2, _ := log.deliveries(2)
		return len(c1) > 0 && len(c2) > 0
	})
	if err := c0.Close(testCtx(t)); err != nil {
		t.Errorf("Close of the consumer whose lock expired: %v", err)
	}
	// The first record was accepted by the fast consumer: delivered twice
	// in all, whatever became of the slow consumer's late accept.
	if counts, _ := log.deliveries(0); len(counts) != 2 {
		t.Errorf("offset 0 delivered %d times (counts %v), want 2", len(counts), counts)
	}
}

// TestShareUnsupported: without share groups in ApiVersions, Queue is not
// declared and a queue consumer is refused as not applicable; a dead-letter
// topic is refused on any Kafka broker.
func TestShareUnsupported(t *testing.T) {
	t.Parallel()
	old := newKafka(t, newCluster(t, kfake.MaxVersions(kversion.V3_8_0())).ListenAddrs())
	if old.Capabilities().Queue {
		t.Error("Capabilities().Queue is true on a broker without share groups")
	}
	cfg := consumerCfg("t", unique("share"), func(*adapters.Delivery) {})
	cfg.Queue = true
	if _, err := old.NewConsumer(testCtx(t), cfg); !errors.Is(err, adapters.ErrNotApplicable) {
		t.Errorf("NewConsumer(Queue) without share groups: err %v, want ErrNotApplicable", err)
	}
	k := newKafka(t, newCluster(t).ListenAddrs())
	if caps := k.Capabilities(); !caps.Queue || caps.DeadLetter {
		t.Errorf("kfake: Queue %v DeadLetter %v, want true and false", caps.Queue, caps.DeadLetter)
	}
	err := k.CreateTopic(testCtx(t), adapters.TopicSpec{Name: unique("dl"), Partitions: 1, DeadLetter: true})
	if !errors.Is(err, adapters.ErrNotApplicable) {
		t.Errorf("CreateTopic(DeadLetter): err %v, want ErrNotApplicable", err)
	}
	for _, bad := range []adapters.ConsumerConfig{
		{ID: "neg", Topic: "t", Subscription: "g", Handler: cfg.Handler, Queue: true, MaxDeliveries: -1},
		{ID: "mode", Topic: "t", Subscription: "g", Handler: cfg.Handler, Queue: true, Commit: "never"},
	} {
		if _, err := k.NewConsumer(context.Background(), bad); !errors.Is(err, adapters.ErrInvalidConfig) {
			t.Errorf("NewConsumer(%s): err %v, want adapters.ErrInvalidConfig", bad.ID, err)
		}
	}
}

// TestShareCloseResume: Close in queue mode acknowledges what was handled
// and releases what was fetched but not handled, so a second consumer of
// the share group gets exactly the rest.
func TestShareCloseResume(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, addrs []string) {
		k := newKafka(t, addrs)
		topic := newTopic(t, k, 1)
		group := unique("share")
		const total = 20
		produceN(t, k, topic, 1, total, adapters.ProducerConfig{Acks: adapters.AcksAll})
		log := newShareLog()
		gate := make(chan struct{})
		var handled atomic.Int32
		cfg := consumerCfg(topic, group, func(d *adapters.Delivery) {
			log.record(0, d)
			if handled.Add(1) == 3 {
				<-gate // Close is called while this handler holds its record
			}
		})
		cfg.Queue, cfg.Partitions, cfg.Prefetch = true, 1, 5
		c0 := startConsumer(t, k, cfg)
		adaptertest.WaitFor(t, testWait, "the first consumer to hold its third record", func() bool { return handled.Load() >= 3 })
		closed := make(chan error, 1)
		go func() { closed <- c0.Close(testCtx(t)) }()
		// Not synchronisation: the assertions hold however this races with
		// Close; it only makes it likely that Close is already waiting.
		time.AfterFunc(100*time.Millisecond, func() { close(gate) })
		if err := <-closed; err != nil {
			t.Fatalf("Close: %v", err)
		}
		first := int(handled.Load())
		cfg.Handler = func(d *adapters.Delivery) { log.record(1, d) }
		cfg.ID = unique("c")
		startConsumer(t, k, cfg)
		adaptertest.WaitFor(t, testWait, "every record to be delivered", func() bool {
			for off := range int64(total) {
				if c, _ := log.deliveries(off); len(c) == 0 {
					return false
				}
			}
			return true
		})
		for off := range int64(total) {
			counts, by := log.deliveries(off)
			if len(counts) != 1 {
				t.Errorf("offset %d delivered %d times (counts %v by %v), want once", off, len(counts), counts, by)
			}
		}
		if first >= total {
			t.Logf("the first consumer handled everything before Close (%d)", first)
		}
	})
}
