package rabbitmq

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// rabbitAddr is the local RabbitMQ the integration tests use.
const rabbitAddr = "127.0.0.1:5672"

// newRabbit connects a System with the given queue type to the local
// RabbitMQ (skipping, or failing with CI=true, when it is not running) and
// closes it when t ends.
func newRabbit(t testing.TB, qt QueueType) *RabbitMQ {
	t.Helper()
	adaptertest.RequireService(t, "rabbitmq", rabbitAddr)
	cfg := Config{}.Default()
	cfg.QueueType = qt
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// newTopic creates a uniquely named topic and deletes it when t ends.
func newTopic(t *testing.T, r *RabbitMQ, partitions int, subs ...string) string {
	t.Helper()
	spec := adapters.TopicSpec{Name: "bbrabbit-" + adaptertest.Suffix(), Partitions: partitions, Subscriptions: subs}
	return adaptertest.NewTopic(t, r, spec)
}

// newProducer opens a producer closed when t ends.
func newProducer(t *testing.T, r *RabbitMQ, cfg adapters.ProducerConfig) adapters.Producer {
	t.Helper()
	p, err := r.NewProducer(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil && !errors.Is(err, ErrUnroutable) {
			t.Errorf("Producer.Close: %v", err)
		}
	})
	return p
}

// sendAll sends values to partition part and waits for every callback,
// returning the errors they reported.
func sendAll(t *testing.T, p adapters.Producer, topic string, part int32, values []string) []error {
	t.Helper()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, v := range values {
		wg.Add(1)
		p.Send(t.Context(), &adapters.Message{Topic: topic, Partition: part, Key: []byte("k"), Value: []byte(v)},
			func(_ adapters.SendResult, err error) {
				defer wg.Done()
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
	}
	wg.Wait()
	return errs
}

var queueTypes = []QueueType{QueueClassic, QueueQuorum, QueueStream}

// TestConformance runs the shared adapter suite once per queue type.
func TestConformance(t *testing.T) {
	t.Parallel()
	adaptertest.RequireService(t, "rabbitmq", rabbitAddr)
	for _, qt := range queueTypes {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			adaptertest.Run(t, func(t *testing.T) adapters.System {
				t.Helper()
				cfg := Config{}.Default()
				cfg.QueueType = qt
				r, err := New(t.Context(), cfg)
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return r
			})
		})
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	r := newRabbit(t, QueueQuorum)
	info, err := r.Info(t.Context())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if !strings.HasPrefix(info.Server, "RabbitMQ ") || info.Client != clientVersion {
		t.Errorf("Info = %+v, want server RabbitMQ <version> and client %q", info, clientVersion)
	}
	if strings.Contains(info.Endpoint, "guest:guest") {
		t.Errorf("Info.Endpoint %q leaks the password", info.Endpoint)
	}
}

func TestNewUnavailable(t *testing.T) {
	t.Parallel()
	// Reserve a port and close it again so nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	cfg := Config{}.Default()
	cfg.URL = "amqp://bob:s3cret@" + addr + "/"
	_, err = New(t.Context(), cfg)
	if !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("New on a closed port: err = %v, want adapters.ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestBadCredentials(t *testing.T) {
	t.Parallel()
	adaptertest.RequireService(t, "rabbitmq", rabbitAddr)
	cfg := Config{}.Default()
	cfg.Password = "wrong-s3cret"
	_, err := New(t.Context(), cfg)
	if err == nil {
		t.Fatal("New with a wrong password succeeded")
	}
	if errors.Is(err, adapters.ErrUnavailable) {
		t.Errorf("a refused login is not unavailability: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-s3cret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestQueueTypesDeclared(t *testing.T) {
	t.Parallel()
	for _, qt := range queueTypes {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			r := newRabbit(t, qt)
			topic := newTopic(t, r, 2, "s1", "s2")
			// A queue of another type under the same name is refused with
			// the broker's 406, which proves the type really is qt.
			other := Config{}.Default()
			other.QueueType = QueueClassic
			if qt == QueueClassic {
				other.QueueType = QueueQuorum
			}
			r2, err := New(t.Context(), other)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer r2.Close()
			sub := "s1"
			// Declare the name r uses (streams are named per partition
			// only) with r2's arguments.
			err = r2.withChannel(t.Context(), func(ch *amqp.Channel) error {
				_, err := ch.QueueDeclare(r.queueName(topic, sub, 0), true, false, false, false, r2.queueArgs(topic, sub, queueSettings{storage: storage{qtype: other.QueueType}}))
				return err
			})
			if err == nil {
				t.Fatalf("redeclaring %s queues as %s succeeded; they were not %s", qt, other.QueueType, qt)
			}
			for _, s := range []string{"s1", "s2"} {
				for p := range int32(2) {
					ok, err := r.queueExists(t.Context(), r.queueName(topic, s, p))
					if err != nil || !ok {
						t.Errorf("queue %q: exists=%v err=%v", r.queueName(topic, s, p), ok, err)
					}
				}
			}
		})
	}
}
