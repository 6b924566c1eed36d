// Package adapters defines the one interface through which the runner drives
// every message system under test: Kafka (and refbroker through it), RabbitMQ,
// Redis Streams and NATS JetStream.
//
// Workloads are written against concepts, not systems:
//
//   - a topic with partitions ([TopicSpec]);
//   - a subscription: a consumer group in Kafka, Redis and NATS, a queue per
//     (subscription, partition) in RabbitMQ ([ConsumerConfig.Subscription]).
//     On every system a partition is consumed by one member of a
//     subscription at a time, in order; competing consumers on every
//     partition are a separate mode ([ConsumerConfig.Queue]);
//   - a [Producer] that sends asynchronously and reports through a callback;
//   - a [Consumer] that hands each [Delivery] to a [Handler] and reports
//     partition assignment and revocation where the system has them.
//
// A [System] declares its [Capabilities]. When a workload needs a capability
// a system lacks, the runner reports "not applicable: <reason>" instead of
// silently skipping. Optional behaviour is found by type assertion on small
// interfaces such as [Lagger].
//
// Each system lives in its own subpackage (adapters/kafka, adapters/rabbitmq,
// adapters/redis, adapters/nats); adapters/adaptertest holds the shared
// conformance suite every adapter's tests call.
package adapters

import (
	"context"
	"net"
	"time"
)

// System is one message system under test. Implementations must be safe for
// concurrent use: the runner creates producers and consumers from several
// goroutines.
type System interface {
	// Name is the short system name used in results and on the command line,
	// such as "kafka" or "rabbitmq".
	Name() string
	// Capabilities says what the system can do, so that workloads it cannot
	// run are reported as not applicable.
	Capabilities() Capabilities
	// Info describes the server and client library versions for run metadata.
	// It never contains credentials.
	Info(ctx context.Context) (Info, error)
	// CreateTopic creates the topic with its partitions. Creating a topic that
	// already exists with the same partition count is not an error.
	CreateTopic(ctx context.Context, spec TopicSpec) error
	// DeleteTopic removes the topic and everything the adapter created for it
	// (queues, streams, consumer groups). Deleting a missing topic is not an
	// error.
	DeleteTopic(ctx context.Context, topic string) error
	// NewProducer returns a connected producer.
	NewProducer(ctx context.Context, cfg ProducerConfig) (Producer, error)
	// NewConsumer returns a consumer that has started consuming: it calls
	// cfg.Handler for each delivery until Close or Crash.
	NewConsumer(ctx context.Context, cfg ConsumerConfig) (Consumer, error)
	// Close releases connections held by the system itself.
	Close() error
}

// Capabilities lists what a system supports. A false field means the
// workload features that need it are not applicable on that system.
type Capabilities struct {
	// Partitions: a topic has several independently ordered partitions and a
	// message can be routed to one by key or explicitly.
	Partitions bool `json:"partitions"`
	// Replay: a new subscription can read messages published before it
	// existed (a log, not a queue).
	Replay bool `json:"replay"`
	// ConsumerGroups: several consumers of one subscription share its
	// messages, each message going to one of them.
	ConsumerGroups bool `json:"consumerGroups"`
	// Rebalance: partitions are reassigned among a group's consumers when one
	// joins or leaves, and the consumer reports assignment changes. Where
	// this holds only within one process (RabbitMQ), the adapter's docs say
	// so.
	Rebalance bool `json:"rebalance"`
	// StaticMembership: a consumer with a stable instance id can restart
	// without triggering a rebalance.
	StaticMembership bool `json:"staticMembership"`
	// PerMessageAck: each delivery is acknowledged individually (queues)
	// rather than by committing an offset.
	PerMessageAck bool `json:"perMessageAck"`
	// OrderedPartitions: a partition's messages are delivered in order to a
	// subscription even with several consumers in it.
	OrderedPartitions bool `json:"orderedPartitions"`
	// BrokerLag: the system reports lag or queue depth itself ([Lagger]).
	BrokerLag bool `json:"brokerLag"`
	// Idempotence: the producer can be made idempotent, so retries never
	// duplicate a message.
	Idempotence bool `json:"idempotence"`
	// Offsets: SendResult.Offset and Delivery.Offset give each message's
	// position in its partition, increasing in partition order (not
	// necessarily contiguous). Histories of systems with offsets and
	// OrderedPartitions use the log model; the others the queue model.
	Offsets bool `json:"offsets"`
	// Queue: a handler can release a delivery for redelivery or reject it
	// (Delivery.Disposition), and deliveries carry a delivery count. For
	// Kafka this is a share group (KIP-932), chosen with
	// ConsumerConfig.Queue.
	Queue bool `json:"queue"`
	// DeadLetter: rejected messages, and messages over the delivery limit,
	// go to a dead-letter destination whose size the system reports
	// (DeadLetterCounter), instead of being dropped or archived.
	DeadLetter bool `json:"deadLetter"`
}

// Info is run metadata about the system under test.
type Info struct {
	// Server names the server software and version, such as
	// "RabbitMQ 3.12.1", or "unknown" when the server does not say.
	Server string `json:"server"`
	// Client names the client library and version, such as
	// "github.com/twmb/franz-go v1.22.3".
	Client string `json:"client"`
	// Endpoint is where the system was reached, without credentials.
	Endpoint string `json:"endpoint"`
}

// TopicSpec describes a topic to create.
type TopicSpec struct {
	// Name of the topic.
	Name string
	// Partitions is the number of partitions, at least 1.
	Partitions int
	// Subscriptions names the subscriptions that will consume this topic.
	// Systems that must provision per-subscription state before publishing
	// (RabbitMQ queues, Redis consumer groups) create it here, so that no
	// message published before a consumer starts is lost to a subscription.
	Subscriptions []string
	// Queue says the subscriptions will be consumed as queues (competing
	// consumers, no partition ownership), for systems that must declare
	// it up front (RabbitMQ declares its queues without
	// single-active-consumer).
	Queue bool
	// MaxDeliveries, when > 0, is the delivery limit: a message delivered
	// that many times without being accepted is dead-lettered (DeadLetter)
	// or archived/dropped by the system. Queue systems declare it with the
	// queue (RabbitMQ x-delivery-limit), hence here.
	MaxDeliveries int
	// DeadLetter asks for a dead-letter destination per subscription,
	// created with the topic and deleted with it. Needs
	// Capabilities.DeadLetter.
	DeadLetter bool
	// RetentionBytes caps the stored bytes per partition where the system
	// supports it (Kafka retention.bytes, Redis MAXLEN ~ approximation,
	// RabbitMQ x-max-length-bytes). 0 means the system default.
	RetentionBytes int64
	// Durability is the level the workload asks for (durability:), applied
	// where the client can (topic configs, queue types, stream storage,
	// server settings); "" keeps the system's default. The adapter's
	// [Durabler] reports what the server then actually does.
	Durability Durability
}

// Acks is the durability a producer waits for before a send completes.
type Acks int

const (
	// AcksLeader waits for the leader (Kafka acks=1, RabbitMQ confirms).
	AcksLeader Acks = 1
	// AcksAll waits for all in-sync replicas (Kafka acks=-1, confirms).
	AcksAll Acks = -1
	// AcksNone does not wait at all (Kafka acks=0, no confirms). Sends
	// complete when written to the socket.
	AcksNone Acks = 0
)

// ProducerConfig configures one producer. Zero values mean the system's
// default; fields a system cannot honour are ignored and noted in its docs.
type ProducerConfig struct {
	// ID identifies the producer in logs and client ids.
	ID string
	// Acks is the durability to wait for. The zero value is AcksNone, so the
	// runner always sets it explicitly.
	Acks Acks
	// Idempotent makes the producer idempotent where the system supports it.
	Idempotent bool
	// IdempotenceRequested says the workload asked for idempotence
	// explicitly (delivery.idempotent: true) rather than getting it as
	// the default of acks=all. Systems where it costs more than the
	// client's default (NATS de-duplication, a lookup per message) apply
	// it only then.
	IdempotenceRequested bool
	// Linger is how long a batch may wait for more messages (Kafka linger.ms).
	Linger time.Duration
	// BatchBytes caps a batch (Kafka max batch bytes).
	BatchBytes int
	// Compression is "none", "gzip", "snappy", "lz4" or "zstd" (Kafka only).
	Compression string
	// MaxInFlight bounds sends that have not completed; Send blocks when it
	// is reached. 0 means DefaultMaxInFlight.
	MaxInFlight int
	// Rate is the producer's target rate in messages per second, 0 for as
	// fast as it can go. Adapters size what the rate needs (RabbitMQ
	// spreads a fast producer over channels and connections).
	Rate float64
}

// DefaultMaxInFlight is ProducerConfig.MaxInFlight when it is 0, on every
// system, and the workloads' default (delivery.maxInFlight): enough sends
// in flight to keep a max-rate producer's batches or pipelines full, with
// bounded memory.
const DefaultMaxInFlight = 1000

// Message is one message to send. The producer does not retain Key or Value
// after Send's callback has run, so the caller may reuse them then.
type Message struct {
	// Topic to send to.
	Topic string
	// Partition to send to, or -1 to choose one by hashing Key (or round
	// robin when Key is nil). The runner always sets it explicitly, so that
	// every system places keys identically.
	Partition int32
	// Key is the message key; may be nil.
	Key []byte
	// Value is the payload; binary-safe.
	Value []byte
}

// SendResult is what a completed send reports.
type SendResult struct {
	// Partition the message was stored in.
	Partition int32
	// Offset of the message in its partition, or -1 when the system has no
	// offsets (RabbitMQ classic queues). Redis and NATS map their stream ids
	// and sequences to a monotonic int64.
	Offset int64
}

// Producer sends messages. Send may be called from several goroutines.
type Producer interface {
	// Send publishes m asynchronously and calls done exactly once, from any
	// goroutine, when the send completes or fails. Send blocks only while
	// MaxInFlight sends are outstanding or ctx is done; in the latter case
	// done is called with ctx's error.
	Send(ctx context.Context, m *Message, done func(SendResult, error))
	// Flush waits until every send so far has completed.
	Flush(ctx context.Context) error
	// Close flushes and releases the producer.
	Close(ctx context.Context) error
}

// StartPosition is where a new subscription starts reading.
type StartPosition int

const (
	// StartEarliest reads from the oldest retained message.
	StartEarliest StartPosition = iota
	// StartLatest reads only messages published after the subscription is
	// created.
	StartLatest
)

// CommitMode is how a consumer records progress.
type CommitMode string

const (
	// CommitAuto lets the client library commit or ack on its own schedule
	// (Kafka auto-commit, RabbitMQ auto-ack). Messages may be lost on crash.
	CommitAuto CommitMode = "auto"
	// CommitInterval acks each delivery after its handler returns and commits
	// offsets every CommitInterval (at-least-once).
	CommitInterval CommitMode = "interval"
	// CommitSync acks each delivery after its handler returns and commits
	// synchronously after every poll or batch (at-least-once, slowest).
	CommitSync CommitMode = "sync"
)

// Assignor is the partition assignment strategy of a consumer group.
type Assignor string

const (
	// AssignCooperativeSticky is Kafka's incremental cooperative assignor.
	AssignCooperativeSticky Assignor = "cooperative-sticky"
	// AssignRange is Kafka's eager range assignor.
	AssignRange Assignor = "range"
	// AssignRoundRobin is Kafka's eager round-robin assignor.
	AssignRoundRobin Assignor = "roundrobin"
	// AssignSticky is Kafka's eager sticky assignor.
	AssignSticky Assignor = "sticky"
)

// ConsumerConfig configures one consumer.
type ConsumerConfig struct {
	// ID identifies the consumer in logs, client ids and the system's own
	// consumer names (Redis consumer name, NATS client name).
	ID string
	// Topic to consume.
	Topic string
	// Partitions is the topic's partition count, for systems that emulate
	// partitions and must subscribe to each one.
	Partitions int
	// Subscription names the consumer group (Kafka group id, Redis group,
	// NATS durable, RabbitMQ queue prefix).
	Subscription string
	// InstanceID, when set, makes the consumer a static member (Kafka
	// group.instance.id). Requires Capabilities.StaticMembership.
	InstanceID string
	// Assignor is the group's assignment strategy (Kafka only); empty means
	// cooperative-sticky.
	Assignor Assignor
	// SessionTimeout is how long the group waits for a silent member before
	// evicting it. 0 means the system default.
	SessionTimeout time.Duration
	// Start is where a new subscription starts.
	Start StartPosition
	// Commit is how progress is recorded; empty means CommitInterval.
	Commit CommitMode
	// CommitInterval is the period for CommitInterval; 0 means 1s.
	CommitInterval time.Duration
	// Prefetch bounds unacknowledged deliveries held by the consumer
	// (RabbitMQ basic.qos, Redis COUNT, NATS MaxAckPending, Kafka max poll
	// records). 0 means the adapter's default.
	Prefetch int
	// Handler is called for each delivery. It is called from the adapter's
	// goroutines, possibly concurrently for different partitions, and must
	// not retain d or its slices after it returns.
	Handler Handler
	// Queue consumes with per-message queue semantics: competing
	// consumers on every partition instead of one member per partition
	// (a Kafka share group instead of a consumer group; every member of a
	// Redis group or NATS durable reading every partition). RabbitMQ
	// classic and quorum queues also need TopicSpec.Queue. Needs
	// Capabilities.Queue.
	Queue bool
	// MaxDeliveries repeats TopicSpec.MaxDeliveries for systems that set
	// the delivery limit on the consumer (NATS MaxDeliver, Kafka
	// share.delivery.count.limit, Redis, which the adapter enforces).
	MaxDeliveries int
	// OnAssigned is called, if set, when partitions are assigned to this
	// consumer (with the newly assigned partitions only).
	OnAssigned func(partitions []int32)
	// OnGeneration is called, if set, just before OnAssigned with the
	// consumer group generation the assignment belongs to, by systems whose
	// groups have one (Kafka). A static member that restarts gets its
	// partitions back in the same generation, so counting generations
	// counts rebalances, where counting assignments would not.
	OnGeneration func(generation int32)
	// OnRevoked is called, if set, when partitions are revoked or lost.
	OnRevoked func(partitions []int32)
	// OnCommitted is called, if set, after each commit the broker
	// accepted, with the committed offsets (the next offset to read) per
	// partition of Topic: after it, a member of the subscription that takes
	// a partition over starts at or above that offset. It may be called from
	// the adapter's goroutines and must not retain the map. Kafka, Redis
	// and NATS (not with Queue) and RabbitMQ streams call it, the others
	// never do; each adapter's docs say what a commit is there.
	OnCommitted func(offsets map[int32]int64)
	// OnAcked is called, if set, once accepted deliveries of partition have
	// been acknowledged to the broker (the ack sent, or confirmed where the
	// system confirms acks), with the Ref their Handler set; with
	// CommitAuto, when the Handler returns (the system acked on receipt).
	// Releases and rejects are not reported: they are applied when the
	// Handler returns. It may be called from the adapter's goroutines and
	// must not retain refs. Systems implementing [AckReporter] call it;
	// the others never do.
	OnAcked func(partition int32, refs []uint64)
}

// AckReporter is implemented by systems whose consumers report their
// acknowledgements through ConsumerConfig.OnAcked (Redis, NATS, RabbitMQ,
// SQS).
// For the others a caller can only assume a delivery was acked when its
// Handler returned.
type AckReporter interface {
	// ReportsAcks returns true; it marks the implementation.
	ReportsAcks() bool
}

// Delivery is one message delivered to a consumer.
type Delivery struct {
	// Topic the message came from.
	Topic string
	// Partition the message came from.
	Partition int32
	// Offset of the message, or -1 when the system has none.
	Offset int64
	// Key of the message; may be nil.
	Key []byte
	// Value of the message.
	Value []byte
	// Redelivered is true when the system says this is a redelivery
	// (RabbitMQ redelivered flag, Redis delivery count > 1, NATS
	// NumDelivered > 1). Kafka cannot tell and leaves it false.
	Redelivered bool
	// DeliveryCount is how many times the system has delivered this
	// message, 1 the first time; 0 when the system does not count
	// (Kafka consumer groups, RabbitMQ classic queues).
	DeliveryCount int
	// Ref is set by the Handler, if it wants ConsumerConfig.OnAcked to name
	// this delivery: any number the caller chooses (the runner uses the
	// message's history value). The adapter clears it before each Handler
	// call.
	Ref uint64
	// Disposition is set by the Handler before it returns. The zero value,
	// Accept, acknowledges the message as the CommitMode says; Release and
	// Reject need Capabilities.Queue and are applied at once.
	Disposition Disposition
}

// Disposition is what a handler decided about a delivery.
type Disposition int

const (
	// Accept: processed; acknowledge it (the default).
	Accept Disposition = iota
	// Release: not processed; return it for redelivery, to this or another
	// consumer (AMQP nack with requeue, JetStream Nak, share-group
	// release). Its delivery count grows, and past the delivery limit it
	// is dead-lettered.
	Release
	// Reject: can never be processed; dead-letter it if the topic has a
	// dead-letter destination, else drop or archive it (AMQP reject
	// without requeue, JetStream Term, share-group reject).
	Reject
)

// String returns "accept", "release" or "reject".
func (d Disposition) String() string {
	switch d {
	case Release:
		return "release"
	case Reject:
		return "reject"
	}
	return "accept"
}

// Handler processes one delivery. When it returns, the message counts as
// processed and is acknowledged or committed according to the CommitMode.
type Handler func(d *Delivery)

// Consumer is a running consumer.
type Consumer interface {
	// Close stops consuming gracefully: it commits or acks what was handled
	// and leaves the group, so the group rebalances at once (for dynamic
	// members).
	Close(ctx context.Context) error
	// Crash stops consuming as a process crash would: no commit, no ack, no
	// leave; connections are dropped. Unacknowledged messages are
	// redelivered later by the system's own failure detection.
	Crash() error
}

// RoleDialer opens a system's connections by role: "producers",
// "consumers" or "admin". Adapters whose Config takes one route each
// role's connections through the dial function it returns, which is how
// the chaos package's proxies aim a fault at the consumer path alone. A
// nil RoleDialer means plain TCP.
type RoleDialer func(role string) func(ctx context.Context, network, addr string) (net.Conn, error)

// Connection roles passed to a RoleDialer.
const (
	RoleProducers = "producers"
	RoleConsumers = "consumers"
	RoleAdmin     = "admin"
)

// DeadLetterCounter is implemented by systems with Capabilities.DeadLetter.
type DeadLetterCounter interface {
	// DeadLettered returns how many messages of topic are in
	// subscription's dead-letter destination.
	DeadLettered(ctx context.Context, topic, subscription string) (int64, error)
}

// Stopper is implemented by consumers that can stop on their own: when an
// adapter does not reconnect (RabbitMQ, deliberately, so that failures
// show), a lost connection ends the consumer. Stopped is closed then; the
// runner, acting as the application's supervisor, starts a replacement.
// Close and Crash may close it too.
type Stopper interface {
	Stopped() <-chan struct{}
}

// Lagger is implemented by systems that report consumer lag broker-side.
type Lagger interface {
	// Lag returns, per partition, the messages in topic not yet
	// consumed by subscription, as the broker reports it: committed-offset
	// lag in Kafka, the group's lag in Redis and NATS, ready messages in
	// RabbitMQ (AMQP cannot count unacknowledged deliveries). Each
	// adapter's docs say which. When some partitions could not be read, it
	// returns those it could together with a non-nil error.
	Lag(ctx context.Context, topic, subscription string) (map[int32]int64, error)
}

// CapabilityVariant is a system's capabilities in one of its
// configurations (RabbitMQ by queue type, Kafka with or without share
// groups), and how it maps the workload concepts onto the system, as each
// adapter's CapabilityVariants lists them for the docs' capability matrix
// and mapping table.
type CapabilityVariant struct {
	// Label heads the matrix column, e.g. "rabbitmq (stream)".
	Label string
	// Capabilities are what Capabilities() returns in that configuration.
	Capabilities Capabilities
	// Mapping says what each concept is on the system in that
	// configuration.
	Mapping Mapping
}

// Mapping says, in a short phrase each, what the workload concepts are on
// one system, for the mapping table of docs/adapters/README.md.
type Mapping struct {
	// Topic is what a topic is, e.g. "one stream per partition".
	Topic string `json:"topic"`
	// Partition is what a partition is.
	Partition string `json:"partition"`
	// Subscription is what a subscription is.
	Subscription string `json:"subscription"`
	// Member is how a member of a subscription gets partitions (and what
	// ConsumerConfig.Queue changes).
	Member string `json:"member"`
	// Ack is how a handled delivery is acknowledged.
	Ack string `json:"ack"`
	// Commit is what a commit is (ConsumerConfig.OnCommitted), or why the
	// system has none.
	Commit string `json:"commit"`
}
