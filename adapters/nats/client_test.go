package nats

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// TestCumulativeAcks: a group member of a partitioned topic acks its
// durable (AckAll) cumulatively. With a commit interval far longer than
// the test, the only acks are the ones sent once half of MaxAckPending is
// waiting, so all messages still flow (none stalls at MaxAckPending), the
// ack floor advances in steps of that half, and the last stretch is acked
// and committed when the consumer closes.
func TestCumulativeAcks(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	topic := newTopic(t, n, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}})
	if got := durableInfo(t, n, topic, "s", 0).Config.AckPolicy; got != jetstream.AckAllPolicy {
		t.Fatalf("durable of a partitioned topic has ack policy %v, want AckAll", got)
	}
	p := adaptertest.NewProducer(t, n, adapters.ProducerConfig{Acks: adapters.AcksLeader, ID: "cumulative"})
	const sent = 105
	for i := range sent {
		p.Send(t.Context(), &adapters.Message{Topic: topic, Partition: 0, Value: []byte{byte(i)}}, nil)
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var committed int64
	rec := &adaptertest.Recorder{}
	cfg := adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle)
	cfg.Commit, cfg.Prefetch, cfg.CommitInterval = adapters.CommitInterval, 10, 20*time.Second // ackEvery 5
	cfg.OnCommitted = func(o map[int32]int64) { mu.Lock(); committed = o[0]; mu.Unlock() }
	c := adaptertest.NewConsumer(t, n, cfg)
	adaptertest.WaitFor(t, 10*time.Second, "every message", func() bool { return rec.Len() >= sent })
	adaptertest.WaitFor(t, 5*time.Second, "ack floor 105", func() bool {
		// 105 is 21 stretches of 5: the last ack is at 105.
		return durableInfo(t, n, topic, "s", 0).AckFloor.Stream == sent
	})
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if committed != sent+1 {
		t.Errorf("committed %d on close, want %d", committed, sent+1)
	}
	if info := durableInfo(t, n, topic, "s", 0); info.NumAckPending != 0 {
		t.Errorf("%d messages unacknowledged after close", info.NumAckPending)
	}
}

// TestCumulativeAckErrors: settings a cumulative ack cannot honour are
// refused with an error naming the fix.
func TestCumulativeAckErrors(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	for _, tc := range []struct {
		name   string
		change func(*adapters.ConsumerConfig)
		want   string
	}{
		{"interval not below AckWait", func(c *adapters.ConsumerConfig) {
			c.CommitInterval, c.SessionTimeout = 2*time.Second, 2*time.Second
		}, "not below the durables' AckWait"},
		{"queue on AckAll durables", func(c *adapters.ConsumerConfig) { c.Queue = true }, "queue consumption needs a topic created with Queue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := newTopic(t, n, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}})
			cfg := adaptertest.ConsumerConfig(topic, "s", 1, func(*adapters.Delivery) {})
			cfg.Commit = adapters.CommitInterval
			tc.change(&cfg)
			c, err := n.NewConsumer(t.Context(), cfg)
			if err == nil {
				_ = c.Close(t.Context())
				t.Fatal("NewConsumer succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestClientSettings: what ClientSettings reports is what producers and
// consumers made with the same configs do, read back from the producer
// and from the server's durables.
func TestClientSettings(t *testing.T) {
	t.Parallel()
	n := newNATS(t)
	for _, tc := range []struct {
		name          string
		p             adapters.ProducerConfig
		c             adapters.ConsumerConfig
		spec          adapters.TopicSpec
		window        string
		maxAckPending string
		ack           string
		batch         string
	}{
		{name: "defaults", p: adapters.ProducerConfig{Acks: adapters.AcksAll, Idempotent: true},
			c: adapters.ConsumerConfig{Partitions: 4}, spec: adapters.TopicSpec{Partitions: 4},
			window: "1000", maxAckPending: "1000", ack: "AckAll, cumulative per partition", batch: "250"},
		{name: "workload sizes", p: adapters.ProducerConfig{Acks: adapters.AcksAll, MaxInFlight: 64},
			c: adapters.ConsumerConfig{Partitions: 3, Prefetch: 100}, spec: adapters.TopicSpec{Partitions: 3},
			window: "64", maxAckPending: "100", ack: "AckAll, cumulative per partition", batch: "34"},
		{name: "queue", p: adapters.ProducerConfig{Acks: adapters.AcksLeader},
			c: adapters.ConsumerConfig{Partitions: 2, Queue: true}, spec: adapters.TopicSpec{Partitions: 2, Queue: true},
			window: "1000", maxAckPending: "1000", ack: "AckExplicit, per message", batch: "500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.ID = "settings-" + adaptertest.Suffix()
			tc.spec.Subscriptions = []string{"s"}
			topic := newTopic(t, n, tc.spec)
			tc.c.ID, tc.c.Topic, tc.c.Subscription, tc.c.Handler = "c-"+adaptertest.Suffix(), topic, "s", func(*adapters.Delivery) {}
			got := map[string]adapters.ClientSetting{}
			for _, s := range n.ClientSettings(tc.p, tc.c) {
				got[s.Name] = s
			}
			for name, want := range map[string]string{
				"publish async window":         tc.window,
				"Nats-Msg-Id (de-duplication)": "off",
				"MaxAckPending per durable":    tc.maxAckPending,
				"ack policy":                   tc.ack,
				"pull batch per partition":     tc.batch,
			} {
				if got[name].Value != want {
					t.Errorf("%s = %q, want %q", name, got[name].Value, want)
				}
			}
			if got["ack policy"].Reason == "" || (tc.p.MaxInFlight == 0 && got["publish async window"].Reason == "") {
				t.Errorf("defaults without a reason: %+v", got)
			}
			// The producer's window is the reported one.
			pr := adaptertest.NewProducer(t, n, tc.p).(*producer)
			if strconv.Itoa(cap(pr.slots)) != tc.window {
				t.Errorf("producer window %d, reported %s", cap(pr.slots), tc.window)
			}
			// The durables' MaxAckPending and ack policy are the reported ones.
			adaptertest.NewConsumer(t, n, tc.c)
			info := durableInfo(t, n, topic, "s", 0)
			if strconv.Itoa(info.Config.MaxAckPending) != tc.maxAckPending {
				t.Errorf("durable MaxAckPending %d, reported %s", info.Config.MaxAckPending, tc.maxAckPending)
			}
			if wantAll := strings.HasPrefix(tc.ack, "AckAll"); (info.Config.AckPolicy == jetstream.AckAllPolicy) != wantAll {
				t.Errorf("durable ack policy %v, reported %q", info.Config.AckPolicy, tc.ack)
			}
		})
	}
}

// TestAckSeqs: the stream sequence and delivery count are read from both
// reply subject formats, as jetstream.Msg.Metadata reads them.
func TestAckSeqs(t *testing.T) {
	for _, tc := range []struct {
		reply          string
		seq, delivered uint64
		ok             bool
	}{
		{"$JS.ACK.BB_t.s_p0.2.17.5.1733561000000000000.0", 17, 2, true},                 // v1
		{"$JS.ACK._.ACCHASH.BB_t.s_p0.1.42.42.1733561000000000000.3.AbCd", 42, 1, true}, // v2
		{"$JS.ACK.dom.ACCHASH.BB_t.s_p0.3.99.7.1733561000000000000.0", 99, 3, true},     // v2 without the last token
		{"$JS.ACK.BB_t.s_p0.x.17.5.1.0", 0, 0, false},                                   // not a number
		{"$JS.ACK.BB_t.s_p0.2.17", 0, 0, false},                                         // too short
		{"_INBOX.abc.def", 0, 0, false},
		{"", 0, 0, false},
	} {
		seq, delivered, ok := ackSeqs(tc.reply)
		if ok != tc.ok || (ok && (seq != tc.seq || delivered != tc.delivered)) {
			t.Errorf("ackSeqs(%q) = %d, %d, %t; want %d, %d, %t", tc.reply, seq, delivered, ok, tc.seq, tc.delivered, tc.ok)
		}
	}
}
