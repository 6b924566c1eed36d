package adaptertest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// The helpers below are for an adapter's own tests, beside the suite: the
// pieces every adapter test package would otherwise write again.

// cleanupTimeout bounds a helper's Close when the test ends; t.Context is
// already cancelled then, so cleanups need a context of their own.
const cleanupTimeout = 30 * time.Second

// Suffix returns 12 random hex characters, for topic, subscription and
// client names that must not collide with a concurrent test's.
func Suffix() string { return randomSuffix() }

// NewProducer creates a producer on sys and closes it when t ends,
// reporting a Close error. t may be a benchmark.
func NewProducer(t testing.TB, sys adapters.System, cfg adapters.ProducerConfig) adapters.Producer {
	t.Helper()
	p, err := sys.NewProducer(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewProducer(%s): %v", cfg.ID, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Producer.Close(%s): %v", cfg.ID, err)
		}
	})
	return p
}

// NewConsumer starts a consumer on sys and closes it when t ends,
// reporting a Close error. The test may Close or Crash it first: both make
// the final Close a no-op, as the Consumer contract says.
func NewConsumer(t testing.TB, sys adapters.System, cfg adapters.ConsumerConfig) adapters.Consumer {
	t.Helper()
	c, err := sys.NewConsumer(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewConsumer(%s): %v", cfg.ID, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Consumer.Close(%s): %v", cfg.ID, err)
		}
	})
	return c
}

// ConsumerConfig is the plain consumer most adapter tests start: a unique
// ID, CommitSync (every handled delivery is acknowledged before the next
// poll, so tests need not wait for a commit interval) and h as the
// Handler; the rest is left at the system's defaults for the caller to
// change.
func ConsumerConfig(topic, sub string, partitions int, h adapters.Handler) adapters.ConsumerConfig {
	return adapters.ConsumerConfig{
		ID: "c-" + Suffix(), Topic: topic, Partitions: partitions, Subscription: sub,
		Commit: adapters.CommitSync, Handler: h,
	}
}

// SendSync sends m on p and waits for its callback, failing t if the send
// fails. It is the synchronous wrapper over Producer.Send for tests that
// need one message stored before going on.
func SendSync(t testing.TB, p adapters.Producer, m *adapters.Message) adapters.SendResult {
	t.Helper()
	res, err := send(t, p, m)
	if err != nil {
		t.Fatalf("send to %s partition %d: %v", m.Topic, m.Partition, err)
	}
	return res
}

// Recorder is a Handler that keeps a copy of every delivery in arrival
// order. The zero value is ready; its methods are safe for concurrent use,
// as Handlers must be.
type Recorder struct {
	// Hook, when set, is called with each delivery before it is recorded:
	// to set its Disposition, or to block the handler. It must be set
	// before the Recorder is handed to a consumer.
	Hook func(d *adapters.Delivery)

	mu   sync.Mutex
	got  []adapters.Delivery
	seen map[string]int // value -> deliveries
}

// Handle is the adapters.Handler: it runs Hook, then records a copy of d
// with its own Key and Value, because the adapter may reuse them.
func (r *Recorder) Handle(d *adapters.Delivery) {
	if r.Hook != nil {
		r.Hook(d)
	}
	cp := *d
	cp.Key, cp.Value = bytes.Clone(d.Key), bytes.Clone(d.Value)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, cp)
	if r.seen == nil {
		r.seen = make(map[string]int)
	}
	r.seen[string(cp.Value)]++
}

// Len returns how many deliveries were recorded, redeliveries included.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// Distinct returns how many distinct values were delivered.
func (r *Recorder) Distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// All returns a copy of the recorded deliveries in arrival order.
func (r *Recorder) All() []adapters.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]adapters.Delivery(nil), r.got...)
}

// CheckConfigError checks a configuration error against a table row's
// expectation. With want empty, err must be nil. Otherwise err must wrap
// sentinel (adapters.ErrInvalidConfig) and mention want, which names
// the offending setting or environment variable; in both cases none of
// secrets may appear in it, since errors end up in logs.
func CheckConfigError(t testing.TB, err, sentinel error, want string, secrets ...string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !errors.Is(err, sentinel) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %v mentioning %q", err, sentinel, want)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}

// NewTopic creates spec on sys and deletes it when t ends, reporting a
// DeleteTopic error. spec.Name must not collide with a concurrent test's:
// build it with Suffix. It returns spec.Name.
func NewTopic(t testing.TB, sys adapters.System, spec adapters.TopicSpec) string {
	t.Helper()
	if err := sys.CreateTopic(t.Context(), spec); err != nil {
		t.Fatalf("CreateTopic(%+v): %v", spec, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := sys.DeleteTopic(ctx, spec.Name); err != nil {
			t.Errorf("DeleteTopic(%q): %v", spec.Name, err)
		}
	})
	return spec.Name
}

// Env returns a getenv function over m, for the adapters' ConfigFromEnv
// tables: a missing key reads as "", as os.Getenv's unset variable does.
func Env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// SendErr sends m on p, waits for its callback and returns the error it
// reported, for tests of sends that must fail.
func SendErr(t testing.TB, p adapters.Producer, m *adapters.Message) error {
	t.Helper()
	_, err := send(t, p, m)
	return err
}

// send is Send made synchronous.
func send(t testing.TB, p adapters.Producer, m *adapters.Message) (adapters.SendResult, error) {
	type outcome struct {
		res adapters.SendResult
		err error
	}
	ch := make(chan outcome, 1)
	p.Send(t.Context(), m, func(r adapters.SendResult, err error) { ch <- outcome{r, err} })
	o := <-ch
	return o.res, o.err
}

// BenchSend is the body of an adapter's send benchmark: it sends b.N
// messages with 100-byte values round robin over partitions of topic
// through p, asynchronously as the runner does, then flushes, and fails b
// if any send failed. Throughput is reported in bytes of value per second.
func BenchSend(b *testing.B, p adapters.Producer, topic string, partitions int) {
	b.Helper()
	val := make([]byte, 100)
	var failed atomic.Int64
	done := func(_ adapters.SendResult, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	b.SetBytes(int64(len(val)))
	i := 0
	for b.Loop() {
		p.Send(b.Context(), &adapters.Message{Topic: topic, Partition: int32(i % partitions), Value: val}, done)
		i++
	}
	if err := p.Flush(b.Context()); err != nil || failed.Load() > 0 {
		b.Fatalf("flush: %v, %d failed sends", err, failed.Load())
	}
}
