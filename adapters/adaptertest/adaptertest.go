// Package adaptertest is the conformance suite every adapter's tests run, so
// that "the same workload on every system" holds for the tests too.
//
// An adapter test file calls [Run] with a function that connects a fresh
// [adapters.System] to a real service (Kafka-protocol tests use kfake or the
// embedded refbroker; the others use the local Redis, RabbitMQ and NATS):
//
//	func TestConformance(t *testing.T) {
//		adaptertest.RequireService(t, "redis", "127.0.0.1:6379")
//		adaptertest.Run(t, func(t *testing.T) adapters.System { return newRedis(t) })
//	}
//
// Run executes small, independent subtests in parallel. Each subtest creates
// its own topic with a random suffix and deletes it when it ends, so the
// suite can run concurrently against one shared service and leaves it clean.
// Subtests that need a capability the system does not declare are skipped
// with "not applicable: <capability>", which is explicit rather than silent.
//
// # What SessionTimeout means here
//
// The suite sets [adapters.ConsumerConfig.SessionTimeout] on every consumer
// and gives it one meaning for every system: the time after which a crashed
// consumer's unacknowledged messages are redelivered to another consumer of
// the same subscription. Kafka maps it to the group session timeout; queue
// systems map it to whatever governs redelivery (Redis XAUTOCLAIM idle time,
// NATS AckWait; RabbitMQ redelivers on connection close and may ignore it).
// The default is 6s, the smallest session timeout Kafka brokers accept by
// default (group.min.session.timeout.ms), so the crash subtest stays short.
//
// # Queue subtests
//
// The Queue* subtests run only on systems with Capabilities.Queue and set
// ConsumerConfig.Queue. They check that a released delivery comes back
// (with DeliveryCount 2 where counts are reported), that a rejected one
// never does (and is counted by DeadLettered where Capabilities.DeadLetter
// holds), that a message always released is delivered exactly
// TopicSpec.MaxDeliveries (3) times, that two consumers of one subscription
// accept every message exactly once, and that a crashed consumer's
// unacknowledged deliveries go to the other consumer. "Never again" is
// checked behind a barrier (a second batch flowing through the same
// consumer), never by sleeping.
//
// # Handler and Crash expectations
//
// The crash subtest blocks inside the Handler and calls Crash while the
// handler is still running: Crash must return without waiting for handlers,
// as a killed process would, and a handler that returns after Crash must not
// cause an ack or commit.
//
// # Helpers for an adapter's own tests
//
// Beside the suite, the package holds what every adapter test package
// needs and would otherwise write again: [NewTopic], [NewProducer] and
// [NewConsumer] (closed when the test ends), [SendSync] and [SendErr],
// [ConsumerConfig], a delivery [Recorder], an [Assignment] tracker, [Env]
// and [CheckConfigError] for configuration tables, [Suffix] for unique
// names, [WaitFor] and [BenchSend].
package adaptertest

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// Default suite settings; see the Option functions for what each means.
const (
	defaultSessionTimeout = 6 * time.Second
	defaultWait           = 30 * time.Second
	defaultPerPartition   = 50
	defaultPartitions     = 3
)

// suite holds one Run's settings. It is immutable once Run starts, so the
// parallel subtests may read it without locking.
type suite struct {
	newSystem      func(t *testing.T) adapters.System
	sessionTimeout time.Duration
	wait           time.Duration
	perPartition   int
	partitions     int
}

// Option changes a suite setting.
type Option func(*suite)

// WithSessionTimeout sets the ConsumerConfig.SessionTimeout given to every
// consumer (see the package doc for its meaning). Default 6s.
func WithSessionTimeout(d time.Duration) Option { return func(s *suite) { s.sessionTimeout = d } }

// WithWait sets how long any single wait for a condition may take before the
// subtest fails. Default 30s, generous for two loaded cores; a healthy system
// meets each condition in well under a second.
func WithWait(d time.Duration) Option { return func(s *suite) { s.wait = d } }

// WithMessagesPerPartition sets how many messages the data subtests produce
// into each partition. Default 50; at least 3 so that every value shape
// (all 256 byte values, empty, random) is sent.
func WithMessagesPerPartition(n int) Option { return func(s *suite) { s.perPartition = max(n, 3) } }

// WithPartitions sets the partition count of the topics the subtests create
// when the system has Capabilities.Partitions (otherwise it is 1). Default 3.
func WithPartitions(n int) Option { return func(s *suite) { s.partitions = max(n, 1) } }

// Run runs the whole conformance suite as parallel subtests of t. newSystem
// is called once per subtest and must return a connected System (failing t
// if it cannot); the suite closes that System when the subtest ends.
func Run(t *testing.T, newSystem func(t *testing.T) adapters.System, opts ...Option) {
	t.Helper()
	s := &suite{
		newSystem:      newSystem,
		sessionTimeout: defaultSessionTimeout,
		wait:           defaultWait,
		perPartition:   defaultPerPartition,
		partitions:     defaultPartitions,
	}
	for _, o := range opts {
		o(s)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"Info", testInfo},
		{"CreateTopicIdempotent", testCreateTopicIdempotent},
		{"DeleteTopic", testDeleteTopic},
		{"ProduceConsumeExact", testProduceConsumeExact},
		{"PartitionOrder", testPartitionOrder},
		{"SendAfterClose", testSendAfterClose},
		{"GroupSplit", testGroupSplit},
		{"FanOut", testFanOut},
		{"StartPosition", testStartPosition},
		{"CloseResume", testCloseResume},
		{"CrashRedelivery", testCrashRedelivery},
		{"PartitionOwnership", testPartitionOwnership},
		{"CommitsReported", testCommitsReported},
		{"Lag", testLag},
		{"QueueRelease", testQueueRelease},
		{"QueueReject", testQueueReject},
		{"QueuePoison", testQueuePoison},
		{"QueueCompeting", testQueueCompeting},
		{"QueueCrash", testQueueCrash},
		{"QueueAcksReported", testQueueAcksReported},
		{"QueueBadInput", testQueueBadInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, s)
		})
	}
}

// RequireService skips the test when nothing accepts TCP connections on addr,
// with a message naming the service, so that a developer without, say,
// RabbitMQ running still gets a green `go test`. With the environment variable
// CI=true it fails the test instead, because CI must never silently skip.
func RequireService(t testing.TB, name, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		_ = conn.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required at %s but not reachable: %v", name, addr, err)
	}
	t.Skipf("%s not reachable at %s (%v); skipping (set CI=true to fail instead)", name, addr, err)
}

// WaitFor polls cond every 10ms until it returns true, failing t with what
// if it has not within timeout. Use it instead of time.Sleep to wait for an
// asynchronous effect.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// ctxFor returns a context bounded by the suite wait and cancelled when the
// test ends.
func (s *suite) ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.wait)
	t.Cleanup(cancel)
	return ctx
}
