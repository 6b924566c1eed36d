package rabbitmq

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// TestDurabilityLevels: each requested level is applied (queue type,
// queue durability, message persistence, all checked on the server) and
// read back with the level the server gives, on the single test node.
func TestDurabilityLevels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		qt        QueueType // explicit Config.QueueType, "" for the level's
		level     adapters.Durability
		maxDeliv  int
		acks      adapters.Acks
		wantType  QueueType
		durable   bool
		mode      uint8 // delivery mode of a published message
		effective adapters.Durability
		evidence  string
	}{
		// memory: transient classic queue, non-persistent messages.
		{"memory", "", adapters.DurabilityMemory, 0, adapters.AcksAll, QueueClassic, false, amqp.Transient, adapters.DurabilityMemory, "transient queue"},
		// async-disk: RabbitMQ fsyncs durable classic queues before the
		// confirm, so the level read back is above the one asked for.
		{"async-disk", "", adapters.DurabilityAsyncDisk, 0, adapters.AcksAll, QueueClassic, true, amqp.Persistent, adapters.DurabilitySyncDisk, "durable classic queue"},
		{"sync-disk", "", adapters.DurabilitySyncDisk, 0, adapters.AcksAll, QueueQuorum, true, amqp.Persistent, adapters.DurabilitySyncDisk, "quorum queue with publisher confirms"},
		// One node: replicated is asked for but not given, and the
		// evidence says why (no management API on the test server).
		{"replicated on one node", "", adapters.DurabilityReplicated, 0, adapters.AcksAll, QueueQuorum, true, amqp.Persistent, adapters.DurabilitySyncDisk, "members unknown"},
		{"no level", "", "", 0, adapters.AcksAll, QueueQuorum, true, amqp.Persistent, adapters.DurabilitySyncDisk, "recommended durable type"},
		// A delivery limit needs quorum queues, whatever the level.
		{"memory with a delivery limit", "", adapters.DurabilityMemory, 3, adapters.AcksAll, QueueQuorum, true, amqp.Persistent, adapters.DurabilitySyncDisk, "cannot count deliveries"},
		// An explicit queue type wins; persistence follows the level.
		{"explicit classic, sync-disk", QueueClassic, adapters.DurabilitySyncDisk, 0, adapters.AcksAll, QueueClassic, true, amqp.Persistent, adapters.DurabilitySyncDisk, "set explicitly"},
		{"explicit quorum, memory", QueueQuorum, adapters.DurabilityMemory, 0, adapters.AcksAll, QueueQuorum, true, amqp.Persistent, adapters.DurabilitySyncDisk, "set explicitly"},
		{"stream", QueueStream, adapters.DurabilitySyncDisk, 0, adapters.AcksAll, QueueStream, true, amqp.Persistent, adapters.DurabilityAsyncDisk, "without an fsync"},
		{"no confirms", "", adapters.DurabilitySyncDisk, 0, adapters.AcksNone, QueueQuorum, true, amqp.Persistent, adapters.DurabilityMemory, "acks=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, tc.qt)
			spec := adapters.TopicSpec{Name: "bbrabbit-" + adaptertest.Suffix(), Partitions: 1, Subscriptions: []string{"s"},
				Durability: tc.level, MaxDeliveries: tc.maxDeliv}
			topic := adaptertest.NewTopic(t, r, spec)
			rep, err := r.Durability(t.Context(), topic, tc.acks)
			if err != nil {
				t.Fatal(err)
			}
			ev := strings.Join(rep.Evidence, "; ")
			if rep.Effective != tc.effective || !strings.Contains(ev, tc.evidence) {
				t.Fatalf("effective %s, evidence %q; want %s with %q", rep.Effective, ev, tc.effective, tc.evidence)
			}
			q := r.queueName(topic, "s", 0)
			checkQueueOnServer(t, r, q, tc.wantType, tc.durable, tc.maxDeliv)
			if tc.qt == QueueStream || tc.acks == adapters.AcksNone {
				return
			}
			p := newProducer(t, r, adapters.ProducerConfig{ID: "mode", Acks: adapters.AcksAll})
			if errs := sendAll(t, p, topic, 0, []string{"m"}); len(errs) > 0 {
				t.Fatal(errs)
			}
			// basic.consume, not basic.get, which quorum queues with
			// single-active-consumer refuse.
			var got amqp.Delivery
			err = r.withChannel(t.Context(), func(ch *amqp.Channel) error {
				ds, err := ch.Consume(q, "", true, false, false, false, nil)
				if err != nil {
					return err
				}
				select {
				case got = <-ds:
					return nil
				case <-time.After(10 * time.Second):
					return errors.New("no delivery in 10s")
				}
			})
			if err != nil || got.DeliveryMode != tc.mode {
				t.Fatalf("message from %s: delivery mode %d (err %v), want %d", q, got.DeliveryMode, err, tc.mode)
			}
		})
	}
	r := newRabbit(t, QueueClassic)
	if _, err := r.Durability(t.Context(), "bbrabbit-never-created", adapters.AcksAll); !errors.Is(err, adapters.ErrTopicNotFound) {
		t.Fatalf("unknown topic: err = %v, want ErrTopicNotFound", err)
	}
}

// checkQueueOnServer proves q's type and durability with the broker's
// own equivalence check: a declare with the same type and durability is
// accepted, one with the other durability refused (406).
func checkQueueOnServer(t *testing.T, r *RabbitMQ, q string, qt QueueType, durable bool, maxDeliveries int) {
	t.Helper()
	declare := func(durable bool) error {
		return r.withChannel(t.Context(), func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclarePassive(q, durable, false, false, false, nil)
			if err != nil {
				return err
			}
			args := amqp.Table{"x-queue-type": string(qt)}
			if qt != QueueStream {
				args["x-single-active-consumer"] = true
			}
			if maxDeliveries > 0 {
				args["x-delivery-limit"] = int64(maxDeliveries - 1)
			}
			_, err = ch.QueueDeclare(q, durable, false, false, false, args)
			return err
		})
	}
	if err := declare(durable); err != nil {
		t.Fatalf("queue %s is not type %s durable=%t: %v", q, qt, durable, err)
	}
	if qt == QueueClassic {
		if err := declare(!durable); !isAMQPCode(err, amqp.PreconditionFailed) {
			t.Fatalf("declaring %s as durable=%t: err %v, want 406 (the queue is durable=%t)", q, !durable, err, durable)
		}
	}
}

// TestDurabilityReplicatedMembers: the management API's member list of the
// quorum queue decides whether replicated is claimed. The test server has
// one node and no management plugin, so a fake API answers for it.
func TestDurabilityReplicatedMembers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		body      string
		status    int
		effective adapters.Durability
		evidence  string
	}{
		{"three members", `{"type":"quorum","members":["rabbit@a","rabbit@b","rabbit@c"]}`, 200, adapters.DurabilityReplicated, "has 3 members"},
		{"one member", `{"type":"quorum","members":["rabbit@a"]}`, 200, adapters.DurabilitySyncDisk, "fewer than 3"},
		{"unauthorised", `{"error":"not_authorised"}`, 401, adapters.DurabilitySyncDisk, "401"},
		{"no members field", `{"type":"classic"}`, 200, adapters.DurabilitySyncDisk, "no members field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				path = req.URL.EscapedPath()
				if u, p, ok := req.BasicAuth(); !ok || u != "guest" || p != "guest" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			adaptertest.RequireService(t, "rabbitmq", rabbitAddr)
			cfg := Config{}.Default()
			cfg.ManagementURL = srv.URL
			r, err := New(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() }) // after the topic's cleanup
			spec := adapters.TopicSpec{Name: "bbrabbit-" + adaptertest.Suffix(), Partitions: 1, Subscriptions: []string{"s"},
				Durability: adapters.DurabilityReplicated}
			topic := adaptertest.NewTopic(t, r, spec)
			rep, err := r.Durability(t.Context(), topic, adapters.AcksAll)
			if err != nil {
				t.Fatal(err)
			}
			if ev := strings.Join(rep.Evidence, "; "); rep.Effective != tc.effective || !strings.Contains(ev, tc.evidence) {
				t.Fatalf("effective %s, evidence %q; want %s with %q", rep.Effective, ev, tc.effective, tc.evidence)
			}
			if want := "/api/queues/%2F/" + topic + "%2Fs%2F0"; path != want {
				t.Errorf("management API asked for %s, want %s", path, want)
			}
		})
	}
}
