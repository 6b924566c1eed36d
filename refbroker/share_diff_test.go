package refbroker

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestShareDifferentialKfake runs one share scenario with franz-go's
// share consumer against refbroker and against kfake's share groups and
// requires the same observable result: which records were delivered, how
// often and with which delivery counts, and that archived records are not
// delivered again. Timings are not compared.
func TestShareDifferentialKfake(t *testing.T) {
	t.Parallel()
	const limit = 3

	b := newBroker(t, func(c *Config) { c.ShareDeliveryLimit = limit })
	if _, err := newAdmin(t, b).CreateTopic(testCtx(t, 10*time.Second), 1, 1, nil, "t"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	kc, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(1, "t"),
		kfake.BrokerConfigs(map[string]string{"group.share.delivery.count.limit": strconv.Itoa(limit)}),
	)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(kc.Close)

	ref := runShareScenario(t, b.Addr(), limit)
	fake := runShareScenario(t, kc.ListenAddrs()[0], limit)
	if !slices.Equal(ref, fake) {
		t.Fatalf("deliveries differ\nrefbroker: %v\nkfake:     %v", ref, fake)
	}
	// And the result is the one the semantics require, so the two are
	// not merely equally wrong.
	var want []delivery
	for v := range 12 {
		switch v % 3 {
		case 1: // always released: delivered limit times, then archived
			for n := int32(1); n <= limit; n++ {
				want = append(want, delivery{strconv.Itoa(v), n})
			}
		default: // accepted or rejected on the first delivery
			want = append(want, delivery{strconv.Itoa(v), 1})
		}
	}
	want = append(want, delivery{"marker", 1})
	if w := sortedDeliveries(want); !slices.Equal(ref, w) {
		t.Fatalf("refbroker deliveries %v, want %v", ref, w)
	}
}

// runShareScenario produces 12 records, consumes them with a share
// consumer that accepts v%3==0, releases v%3==1 and rejects v%3==2 on
// every delivery, then produces a marker and consumes until it arrives.
// It returns every delivery, sorted.
func runShareScenario(t *testing.T, addr string, limit int) []string {
	t.Helper()
	cl := newClientAddr(t, addr, kgo.DefaultProduceTopic("t"))
	setShareGroupConfig(t, cl, "g", "share.auto.offset.reset", "earliest")
	produceValues(t, cl, "t", seqValues(12)...)
	var acks ackCollector
	c := newShareConsumer(t, addr, "g", "t", kgo.ShareAckCallback(acks.callback))
	var got []delivery
	expected := 4 + 4*limit + 4 // accepted, released limit times, rejected
	consume := func(until func() bool) {
		deadline := time.Now().Add(15 * time.Second)
		for !until() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: timed out; deliveries so far %v", addr, sortedDeliveries(got))
			}
			for _, r := range pollShare(t, c, time.Until(deadline)) {
				got = append(got, delivery{string(r.Value), r.DeliveryCount()})
				v, err := strconv.Atoi(string(r.Value))
				switch {
				case err != nil || v%3 == 0:
					r.Ack(kgo.AckAccept)
				case v%3 == 1:
					r.Ack(kgo.AckRelease)
				default:
					r.Ack(kgo.AckReject)
				}
			}
			if err := c.FlushAcks(testCtx(t, 10*time.Second)); err != nil {
				t.Fatalf("%s: FlushAcks: %v", addr, err)
			}
		}
	}
	consume(func() bool { return len(got) >= expected })
	produceValues(t, cl, "t", "marker")
	consume(func() bool { return slices.ContainsFunc(got, func(d delivery) bool { return d.value == "marker" }) })
	acks.check(t)
	return sortedDeliveries(got)
}
