// Package sqs is the Amazon SQS adapter: [SQS] implements adapters.System,
// adapters.Lagger and adapters.DeadLetterCounter on top of the AWS SDK for
// Go v2 (github.com/aws/aws-sdk-go-v2/service/sqs).
//
// # Mapping
//
//   - A subscription of a topic is one queue per partition, named
//     "<prefix><topic>-<subscription>-<hash>-p<N>" (shortened and hashed to
//     fit the 80-character limit; see [queueNames]), with ".fifo" appended
//     in FIFO mode. SQS has no fan-out of its own (SNS provides it on AWS),
//     so a producer sends each message to the queue of every subscription
//     of the topic: a send completes when all of them have stored it.
//   - A topic is a metadata queue "<prefix><topic>-<hash>-meta" that holds
//     no messages; its tags record the partition count, the delivery limit,
//     the dead-letter choice and the subscriptions.
//   - In FIFO mode a partition is one message group ("p<N>"), so its
//     messages are delivered in order even to competing consumers, and every
//     send carries a deduplication id unique to the producer and message,
//     which makes the SDK's retries idempotent.
//   - Consumers long-poll each partition queue of their subscription
//     (ReceiveMessage, WaitTimeSeconds) up to 10 messages at a time. The
//     visibility timeout is the ack deadline; an accepted delivery is
//     deleted (DeleteMessageBatch), a released one made visible again at
//     once (ChangeMessageVisibility 0), a rejected one moved to the
//     subscription's dead-letter queue or deleted.
//   - The delivery limit is the queue's redrive policy (maxReceiveCount,
//     with a dead-letter queue "...-dlq" per subscription); the delivery
//     count is ApproximateReceiveCount.
//   - There are no offsets and no replay: a subscription holds only the
//     messages sent after its queues exist.
//
// See docs/adapters/sqs.md for the operator notes.
package sqs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/logging"

	"github.com/brokerbench/brokerbench/adapters"
)

var (
	_ adapters.System            = (*SQS)(nil)
	_ adapters.Lagger            = (*SQS)(nil)
	_ adapters.DeadLetterCounter = (*SQS)(nil)
)

// SQS is a connected Amazon SQS (or SQS-compatible) system. It is safe for
// concurrent use. Producers and consumers share its SDK client: SQS is
// HTTP, so there is no session a consumer's Crash would have to drop.
type SQS struct {
	cfg    Config
	region string
	client *sqs.Client
	// throttled counts throttling responses (see Throttled).
	throttled atomic.Int64
	// urls caches queue name -> URL; DeleteTopic forgets a topic's.
	urls sync.Map
	// metas caches topic metadata for producers (see producerMeta).
	metaMu sync.Mutex
	metas  map[string]cachedMeta
}

// New validates cfg, loads the AWS configuration (region and credentials
// from cfg or the standard chain) and checks that SQS answers with a
// ListQueues of the queue prefix. A server that cannot be reached gives an
// error wrapping adapters.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*SQS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &SQS{cfg: cfg, metas: make(map[string]cachedMeta)}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(func() aws.Retryer { return s.newRetryer() }),
	}
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqs: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("%w: no AWS region: set %s or AWS_REGION", adapters.ErrInvalidConfig, EnvPrefix+"REGION")
	}
	s.region = awsCfg.Region
	s.client = sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		// The SDK logs to stderr, e.g. about response bodies left unread
		// when Crash cancels a long poll; errors reach the caller anyway.
		o.Logger = logging.Nop{}
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	_, err = s.client.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String(cfg.QueuePrefix), MaxResults: aws.Int32(1)})
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) {
			return nil, fmt.Errorf("sqs connect to %s: %w: %w", s.endpoint(), adapters.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("sqs connect to %s: %w", s.endpoint(), err)
	}
	return s, nil
}

// newRetryer is the SDK's standard retryer (exponential backoff with
// jitter, throttling and 5xx errors retried) with Config.MaxAttempts and
// without the client-side retry quota, which would turn a burst of
// throttling into errors; throttling responses are counted.
func (s *SQS) newRetryer() aws.Retryer {
	std := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = s.cfg.MaxAttempts
		o.RateLimiter = ratelimit.None
	})
	return countingRetryer{RetryerV2: std, throttled: &s.throttled}
}

// countingRetryer counts throttling errors as the SDK's retry middleware
// classifies them.
type countingRetryer struct {
	aws.RetryerV2
	throttled *atomic.Int64
}

var throttles = retry.IsErrorThrottles(retry.DefaultThrottles)

func (r countingRetryer) IsErrorRetryable(err error) bool {
	if throttles.IsErrorThrottle(err) == aws.TrueTernary {
		r.throttled.Add(1)
	}
	return r.RetryerV2.IsErrorRetryable(err)
}

// Throttled returns how many throttling responses SQS has sent to this
// system's requests so far (each was retried with backoff while attempts
// remained).
func (s *SQS) Throttled() int64 { return s.throttled.Load() }

func (s *SQS) endpoint() string { return s.cfg.endpoint(s.region) }

// Name returns Config.Name ("sqs" by default).
func (s *SQS) Name() string { return s.cfg.Name }

// Capabilities of SQS: emulated partitions, competing consumers with
// per-message deletes, queue depth as broker-side lag, release, reject,
// delivery counts, delivery limits and dead-letter queues. No replay, no
// offsets, no partition assignment. FIFO queues add per-partition order
// (one message group per partition) and idempotent sends (deduplication
// ids).
func (s *SQS) Capabilities() adapters.Capabilities { return capabilities(s.cfg.FIFO) }

// CapabilityVariants lists the capabilities for the docs' matrix, by
// queue type.
func CapabilityVariants() []adapters.CapabilityVariant {
	m := adapters.Mapping{
		Topic:        "a metadata queue; producers send to every subscription's queues",
		Partition:    "one queue per (subscription, partition)",
		Subscription: "its partition queues",
		Member:       "competing consumers: every member long-polls every partition queue",
		Ack:          "DeleteMessageBatch; release: visibility 0; reject: to the dead-letter queue",
		Commit:       "none (a deleted message is gone)",
	}
	fifo := m
	fifo.Partition = "one FIFO queue per (subscription, partition), one message group: one message of it in flight at a time"
	return []adapters.CapabilityVariant{
		{Label: "sqs (standard)", Capabilities: capabilities(false), Mapping: m},
		{Label: "sqs (fifo)", Capabilities: capabilities(true), Mapping: fifo},
	}
}

func capabilities(fifo bool) adapters.Capabilities {
	return adapters.Capabilities{
		Partitions:        true,
		ConsumerGroups:    true,
		PerMessageAck:     true,
		OrderedPartitions: fifo,
		BrokerLag:         true,
		Idempotence:       fifo,
		Queue:             true,
		DeadLetter:        true,
	}
}

// Info names the SDK module and the endpoint. SQS does not report a
// server version, so Server is "unknown".
func (s *SQS) Info(context.Context) (adapters.Info, error) {
	return adapters.Info{
		Server:   "unknown",
		Client:   "github.com/aws/aws-sdk-go-v2/service/sqs " + moduleVersion("github.com/aws/aws-sdk-go-v2/service/sqs"),
		Endpoint: s.endpoint(),
	}, nil
}

// moduleVersion returns the version of a module linked into the binary.
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	return "(version unknown)"
}

// Close releases nothing: the SDK client holds only idle HTTP connections.
func (s *SQS) Close() error { return nil }

// queueNames derives every queue name of a topic. SQS names are at most 80
// characters of letters, digits, '-' and '_': the readable parts are
// sanitised and clipped, and a hash of the exact names keeps them unique.
type queueNames struct {
	prefix string
	fifo   bool
}

func (n queueNames) suffix() string {
	if n.fifo {
		return ".fifo"
	}
	return ""
}

// meta is the topic's metadata queue.
func (n queueNames) meta(topic string) string {
	return n.prefix + clip(topic, 39) + "-" + hash10(topic) + "-meta" + n.suffix()
}

// base is the common start of a subscription's queue names.
func (n queueNames) base(topic, sub string) string {
	return n.prefix + clip(topic, 22) + "-" + clip(sub, 14) + "-" + hash10(topic+"\x00"+sub)
}

// partition is the queue of one partition of a subscription.
func (n queueNames) partition(topic, sub string, p int) string {
	return n.base(topic, sub) + "-p" + strconv.Itoa(p) + n.suffix()
}

// dlq is the dead-letter queue of a subscription.
func (n queueNames) dlq(topic, sub string) string {
	return n.base(topic, sub) + "-dlq" + n.suffix()
}

func (s *SQS) names() queueNames { return queueNames{prefix: s.cfg.QueuePrefix, fifo: s.cfg.FIFO} }

// clip keeps at most n characters of s, replacing those SQS does not allow
// in a queue name by '_'.
func clip(s string, n int) string {
	b := make([]byte, 0, n)
	for _, r := range s {
		if len(b) == n {
			break
		}
		if nameChar(r) {
			b = append(b, byte(r))
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

func hash10(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:5])
}

// queueURL resolves a queue name to its URL, from the cache when it can.
func (s *SQS) queueURL(ctx context.Context, name string) (string, error) {
	if u, ok := s.urls.Load(name); ok {
		return u.(string), nil
	}
	out, err := s.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("get URL of queue %s: %w", name, err)
	}
	s.urls.Store(name, *out.QueueUrl)
	return *out.QueueUrl, nil
}

// isNotExist reports whether err says a queue does not exist.
func isNotExist(err error) bool {
	var nf *types.QueueDoesNotExist
	return errors.As(err, &nf)
}

// queueDepth returns the messages a queue holds: visible, in flight and
// delayed, as SQS approximates them.
func (s *SQS) queueDepth(ctx context.Context, url string) (int64, error) {
	out, err := s.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, a := range []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	} {
		if v, ok := out.Attributes[string(a)]; ok {
			k, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("attribute %s = %q is not a number", a, v)
			}
			n += k
		}
	}
	return n, nil
}

// Lag returns per partition the messages of topic that subscription has not
// deleted yet: ApproximateNumberOfMessages (visible) plus
// ...NotVisible (received, not yet deleted) plus ...Delayed of each
// partition queue. SQS says these are approximate; on an idle queue they
// are exact. Partitions that could not be read are missing from the map and
// named in the returned error.
func (s *SQS) Lag(ctx context.Context, topic, subscription string) (map[int32]int64, error) {
	m, err := s.loadMeta(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("lag: %w", err)
	}
	if !m.hasSub(subscription) {
		return nil, fmt.Errorf("lag of topic %q: no subscription %q", topic, subscription)
	}
	lag := make(map[int32]int64, m.partitions)
	var errs []error
	for p := range m.partitions {
		n, err := s.depth(ctx, s.names().partition(topic, subscription, p))
		if err != nil {
			errs = append(errs, fmt.Errorf("lag of %q partition %d: %w", topic, p, err))
			continue
		}
		lag[int32(p)] = n
	}
	return lag, errors.Join(errs...)
}

// depth is queueDepth by queue name.
func (s *SQS) depth(ctx context.Context, name string) (int64, error) {
	url, err := s.queueURL(ctx, name)
	if err != nil {
		return 0, err
	}
	return s.queueDepth(ctx, url)
}

// DeadLettered returns the messages in the subscription's dead-letter queue
// (visible, in flight and delayed). A topic without a dead-letter queue
// (neither a delivery limit nor DeadLetter) has dead-lettered nothing.
func (s *SQS) DeadLettered(ctx context.Context, topic, subscription string) (int64, error) {
	m, err := s.loadMeta(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("dead-lettered: %w", err)
	}
	if !m.hasSub(subscription) {
		return 0, fmt.Errorf("dead-lettered of topic %q: no subscription %q", topic, subscription)
	}
	if !m.hasDLQ() {
		return 0, nil
	}
	n, err := s.depth(ctx, s.names().dlq(topic, subscription))
	if err != nil {
		return 0, fmt.Errorf("dead-lettered of topic %q subscription %q: %w", topic, subscription, err)
	}
	return n, nil
}
