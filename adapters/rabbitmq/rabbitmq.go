// Package rabbitmq is the brokerbench adapter for RabbitMQ over AMQP 0-9-1,
// through github.com/rabbitmq/amqp091-go. Its main type is [RabbitMQ], an
// [adapters.System], [adapters.Lagger] and [adapters.DeadLetterCounter],
// built by [New] from a [Config].
//
// # Topology
//
// A topic is a durable direct exchange named after the topic. Partition p is
// the routing key "p" (decimal). For classic and quorum queues each
// (subscription, partition) pair gets its own durable queue
// "<topic>/<subscription>/<p>", declared in CreateTopic for every
// TopicSpec.Subscriptions entry so that nothing published before a consumer
// starts is lost. For stream queues one stream "<topic>/<p>" per partition
// serves every subscription, because streams are read non-destructively from
// an offset; subscriptions only differ in where they read.
//
// The queue type is chosen per topic from the workload's durability level
// (classic transient queues for memory, classic durable for async-disk,
// quorum for sync-disk and replicated, quorum without a level), unless
// Config.QueueType sets it; [RabbitMQ.Durability] reads back what the
// server gives. The server this was developed against is RabbitMQ 3.10.8.
//
// # Publishing
//
// A producer publishes on channels spread over connections of its own,
// sized by its target rate, partition p on channel p mod channels so that
// each partition keeps its order; client.go holds these defaults and
// [RabbitMQ.ClientSettings] reports them.
//
// Publishes carry the mandatory flag: a message no queue is bound for (a
// topic created without subscriptions, a partition out of range) is returned
// by the broker and its send fails with [ErrUnroutable] instead of vanishing.
// The mandatory flag was chosen over an alternate exchange because it reports
// the failure on the very send that caused it, which is what an open-loop
// benchmark needs. With acks (AcksLeader, AcksAll) the channel is in confirm
// mode and a send completes on the broker's confirm; with AcksNone it
// completes once written to the socket, and returns are only counted and
// reported by Flush and Close.
//
// # Subscriptions and consumer groups
//
// Every partition queue is declared with x-single-active-consumer, so the
// broker never delivers one partition to two consumers at once and keeps its
// order. On top of that, the consumers of one subscription created through
// the same [RabbitMQ] value form a local group: partition p is assigned to
// the (p mod n)-th of the n live members in join order, and a join, Close or
// Crash moves partitions at once, reporting OnAssigned/OnRevoked. This
// balances load, which single-active-consumer alone does not (the first
// consumer of a queue would get every partition). Consumers in other
// processes are not part of the local group: they consume every partition
// and single-active-consumer makes them hot standbys, so across processes
// the subscription fails over but does not balance.
//
// Stream subscriptions keep their committed offsets (next offset to read per
// partition) in the [RabbitMQ] value, because AMQP has no server-side offset
// tracking for streams; a new RabbitMQ value starts a subscription at
// ConsumerConfig.Start again. Streams have no single-active-consumer over
// AMQP, so stream consumers in other processes each read every message.
//
// # Queue semantics
//
// Classic and quorum queues are queues already, so Capabilities.Queue and
// DeadLetter hold for them. A Handler's Release is basic.nack with
// requeue, its Reject basic.reject without requeue, both sent as soon as
// the Handler returns. TopicSpec.DeadLetter gives each subscription a
// fanout dead-letter exchange "<topic>/<sub>/dlx" and queue
// "<topic>/<sub>/dlq", named by the partition queues'
// x-dead-letter-exchange and counted by [RabbitMQ.DeadLettered].
// TopicSpec.MaxDeliveries is the quorum x-delivery-limit (minus one:
// RabbitMQ limits returns, not deliveries), and DeliveryCount is
// 1 + x-delivery-count; classic queues do not count deliveries, so they
// report DeliveryCount 0 and refuse MaxDeliveries with
// adapters.ErrNotApplicable rather than enforce a limit they cannot count.
// TopicSpec.Queue drops single-active-consumer, and ConsumerConfig.Queue
// makes a consumer compete for every partition instead of joining the
// local group. Streams have none of this: Queue and DeadLetter are false.
//
// docs/adapters/rabbitmq.md has the full behaviour and settings table.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/localgroup"
)

// clientVersion names the client library reported in Info.
const clientVersion = "github.com/rabbitmq/amqp091-go v1.16.0"

var (
	_ adapters.System      = (*RabbitMQ)(nil)
	_ adapters.Lagger      = (*RabbitMQ)(nil)
	_ adapters.AckReporter = (*RabbitMQ)(nil)
)

// ReportsAcks marks RabbitMQ as an adapters.AckReporter: consumers call
// OnAcked once a basic.ack covering the deliveries is written (AMQP has no
// reply to it), and, on streams, OnCommitted with the local group's
// committed offset.
func (r *RabbitMQ) ReportsAcks() bool { return true }

// RabbitMQ is the adapter for one RabbitMQ server (or cluster entry point).
// It is safe for concurrent use. It holds one administrative connection for
// topology, lag and info; every producer and consumer gets a connection of
// its own, so that crashing one does not disturb the others. Automatic
// reconnection is off: failures are reported, never hidden.
type RabbitMQ struct {
	cfg Config
	uri amqp.URI

	mu     sync.Mutex
	admin  *amqp.Connection
	topics map[string]*topicState
	groups localgroup.Registry // local consumer groups, see consumer.go
	closed bool
}

// topicState is what this System knows about a topic it created or consumed.
type topicState struct {
	partitions int           // 0 when unknown (only consumed, never created here)
	settings   queueSettings // of the creating call
	subs       map[string]bool
}

// New validates cfg and connects the administrative connection. A refused
// or unreachable server gives an error wrapping adapters.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*RabbitMQ, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	uri, err := cfg.uri()
	if err != nil {
		return nil, err
	}
	r := &RabbitMQ{
		cfg:    cfg,
		uri:    uri,
		topics: make(map[string]*topicState),
	}
	conn, _, err := r.dial(ctx, adapters.RoleAdmin, "admin")
	if err != nil {
		return nil, err
	}
	r.admin = conn
	return r, nil
}

// Name returns Config.Name ("rabbitmq" by default).
func (r *RabbitMQ) Name() string { return r.cfg.Name }

// Capabilities depends on Config.QueueType: streams replay but keep no
// broker-side lag, acknowledge by offset, not per message, and have no
// nack, reject or dead-lettering. Classic and quorum queues have queue
// semantics and dead-letter exchanges; only quorum queues count
// deliveries and take a delivery limit (see CreateTopic).
func (r *RabbitMQ) Capabilities() adapters.Capabilities { return capabilities(r.cfg.QueueType) }

// CapabilityVariants lists the capabilities for the docs' matrix, by
// queue type.
func CapabilityVariants() []adapters.CapabilityVariant {
	queues := adapters.Mapping{
		Topic:        "a direct exchange; partition p is routing key \"p\"",
		Partition:    "one queue `<topic>/<subscription>/<p>` per subscription, single-active-consumer",
		Subscription: "its partition queues",
		Member:       "consumes the queues its local group (one process) assigns it, p mod n. Queue: every member consumes every queue (competing; the topic without single-active-consumer)",
		Ack:          "multiple basic.ack every CommitInterval or half the prefetch; nack with requeue; reject",
		Commit:       "none (an acked message is removed)",
	}
	stream := adapters.Mapping{
		Topic:        queues.Topic,
		Partition:    "one stream `<topic>/<p>`, read by every subscription",
		Subscription: "a next offset per partition, kept in the process (AMQP cannot store it in the broker)",
		Member:       "reads the streams its local group (one process) assigns it, p mod n, from the subscription's offset",
		Ack:          "basic.ack as flow credit",
		Commit:       "the next offset after what was handled and acked, in the local group; the next owner starts there",
	}
	return []adapters.CapabilityVariant{
		{Label: "rabbitmq (classic/quorum)", Capabilities: capabilities(QueueQuorum), Mapping: queues},
		{Label: "rabbitmq (stream)", Capabilities: capabilities(QueueStream), Mapping: stream},
	}
}

func capabilities(qt QueueType) adapters.Capabilities {
	stream := qt == QueueStream
	return adapters.Capabilities{
		Partitions:        true,
		Replay:            stream,
		ConsumerGroups:    true,
		Rebalance:         true,
		StaticMembership:  false,
		PerMessageAck:     !stream,
		OrderedPartitions: true,
		BrokerLag:         !stream,
		Idempotence:       false,
		Queue:             !stream,
		DeadLetter:        !stream,
	}
}

// Info reports the server product and version from the connection's server
// properties, e.g. "RabbitMQ 3.10.8".
func (r *RabbitMQ) Info(ctx context.Context) (adapters.Info, error) {
	conn, err := r.adminConn(ctx)
	if err != nil {
		return adapters.Info{}, err
	}
	product, _ := conn.Properties["product"].(string)
	version, _ := conn.Properties["version"].(string)
	server := strings.TrimSpace(product + " " + version)
	if server == "" {
		server = "unknown"
	}
	return adapters.Info{Server: server, Client: clientVersion, Endpoint: r.cfg.Endpoint()}, nil
}

// Close closes the administrative connection. Producers and consumers have
// connections of their own and must be closed separately.
func (r *RabbitMQ) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.admin != nil && !r.admin.IsClosed() {
		if err := r.admin.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			return fmt.Errorf("close admin connection to %s: %w", r.cfg.Endpoint(), err)
		}
	}
	return nil
}

// dial opens a connection for purpose (which shows up in the broker's
// connection list). It returns the raw TCP connection too, so Crash can drop
// it without the AMQP close handshake.
func (r *RabbitMQ) dial(ctx context.Context, role, purpose string) (*amqp.Connection, net.Conn, error) {
	var (
		raw     net.Conn
		dialErr error
	)
	tlsCfg, err := r.cfg.tlsConfig(r.uri.Host)
	if err != nil {
		return nil, nil, err
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("brokerbench " + r.cfg.Name + " " + purpose)
	acfg := amqp.Config{
		SASL:            []amqp.Authentication{r.uri.PlainAuth()},
		Vhost:           r.uri.Vhost,
		Heartbeat:       r.cfg.Heartbeat,
		TLSClientConfig: tlsCfg,
		Properties:      props,
		Locale:          "en_US",
		// Recovery stays nil: no silent reconnects during a measurement.
		Dial: func(network, addr string) (net.Conn, error) {
			dctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout)
			defer cancel()
			dial := (&net.Dialer{}).DialContext
			if r.cfg.Dialer != nil {
				dial = r.cfg.Dialer(role)
			}
			c, err := dial(dctx, network, addr)
			if err != nil {
				dialErr = err
				return nil, err
			}
			// The library clears this deadline once the AMQP handshake is
			// done; until then it bounds a server that accepts but hangs.
			if err := c.SetDeadline(time.Now().Add(r.cfg.DialTimeout)); err != nil {
				_ = c.Close()
				dialErr = err
				return nil, err
			}
			raw = c
			return c, nil
		},
	}
	// The URL without credentials: they travel in SASL, so the string the
	// library parses holds no secret even if it ends up in an error.
	u := r.uri
	u.Username, u.Password = "", ""
	conn, err := amqp.DialConfig(u.String(), acfg)
	if err != nil {
		if dialErr != nil {
			return nil, nil, fmt.Errorf("connect %s to %s: %w: %w", purpose, r.cfg.Endpoint(), adapters.ErrUnavailable, dialErr)
		}
		return nil, nil, fmt.Errorf("connect %s to %s: %w", purpose, r.cfg.Endpoint(), err)
	}
	return conn, raw, nil
}

// adminConn returns the administrative connection, redialling it if it was
// lost (it carries no measured traffic, so reconnecting it hides nothing).
func (r *RabbitMQ) adminConn(ctx context.Context) (*amqp.Connection, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("rabbitmq system %s: %w", r.cfg.Name, adapters.ErrClosed)
	}
	if r.admin != nil && !r.admin.IsClosed() {
		return r.admin, nil
	}
	conn, _, err := r.dial(ctx, adapters.RoleAdmin, "admin")
	if err != nil {
		return nil, err
	}
	r.admin = conn
	return conn, nil
}

// withChannel runs fn on a fresh channel of the administrative connection.
// A fresh channel per operation is needed because AMQP closes a channel on
// any soft error (404 on a passive declare, 406 on a mismatched declare).
func (r *RabbitMQ) withChannel(ctx context.Context, fn func(ch *amqp.Channel) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := r.adminConn(ctx)
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open admin channel: %w", err)
	}
	err = fn(ch)
	if !ch.IsClosed() {
		_ = ch.Close()
	}
	return err
}

// isAMQPCode reports whether err is an AMQP error with the given reply code.
func isAMQPCode(err error, code int) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == code
}

// exchangeName is the exchange of a topic.
func exchangeName(topic string) string { return topic }

// routingKey is the binding key of a partition.
func routingKey(p int32) string { return strconv.Itoa(int(p)) }

// queueName is the queue holding partition p for subscription sub. Streams
// ignore sub: one stream per partition serves every subscription.
func (r *RabbitMQ) queueName(topic, sub string, p int32) string {
	if r.cfg.QueueType == QueueStream {
		return topic + "/" + routingKey(p)
	}
	return topic + "/" + sub + "/" + routingKey(p)
}

// maxNameLen is AMQP's limit on exchange and queue names (a shortstr).
const maxNameLen = 255

// checkName validates a topic or subscription name for the naming scheme:
// '/' separates name parts, "amq." is reserved by the broker.
func checkName(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: %s name is empty", ErrInvalidName, kind)
	case strings.Contains(name, "/"):
		return fmt.Errorf("%w: %s %q contains '/', which separates parts of queue names", ErrInvalidName, kind, name)
	case strings.HasPrefix(name, "amq."):
		return fmt.Errorf("%w: %s %q starts with \"amq.\", which RabbitMQ reserves", ErrInvalidName, kind, name)
	case len(name) > maxNameLen-20:
		return fmt.Errorf("%w: %s %q is longer than %d bytes", ErrInvalidName, kind, name, maxNameLen-20)
	}
	return nil
}

// queueArgs are the declare arguments of subscription sub's partition
// queues. They must be identical on every declare, or the broker refuses
// with 406.
func (r *RabbitMQ) queueArgs(topic, sub string, s queueSettings) amqp.Table {
	args := amqp.Table{"x-queue-type": string(s.qtype)}
	if s.qtype != QueueStream && !s.queue {
		// One active consumer per partition queue keeps partition order
		// with several consumers and gives broker-side failover. Queue
		// topics go without: their consumers compete for every message.
		args["x-single-active-consumer"] = true
	}
	if s.retention > 0 {
		args["x-max-length-bytes"] = s.retention
	}
	addQueueArgs(args, topic, sub, s)
	return args
}
