package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/brokerbench/brokerbench/adapters"
)

// Tags of a topic's metadata queue.
const (
	tagPartitions    = "bb:partitions"
	tagMaxDeliveries = "bb:max-deliveries"
	tagDeadLetter    = "bb:dead-letter"
	tagSubPrefix     = "bb:sub:" // + hash10(name) -> name
)

// maxReceiveCount is the largest redrive maxReceiveCount SQS accepts.
const maxReceiveCount = 1000

// metaRefresh is how long a producer trusts cached topic metadata: a
// subscription a consumer adds later receives sends within this time.
const metaRefresh = time.Second

// createParallelism bounds the concurrent CreateQueue calls of one
// CreateTopic or NewConsumer.
const createParallelism = 8

// topicMeta is what a topic's metadata queue's tags hold.
type topicMeta struct {
	partitions    int
	maxDeliveries int  // 0: no delivery limit
	deadLetter    bool // rejected messages go to the dead-letter queue
	subs          []string
}

// hasDLQ reports whether the topic's subscriptions have a dead-letter
// queue: SQS needs one for a delivery limit, the adapter for rejects.
func (m topicMeta) hasDLQ() bool { return m.maxDeliveries > 0 || m.deadLetter }

func (m topicMeta) hasSub(sub string) bool { return slices.Contains(m.subs, sub) }

type cachedMeta struct {
	meta topicMeta
	at   time.Time
}

// loadMeta reads a topic's metadata; a missing topic wraps adapters.ErrTopicNotFound.
func (s *SQS) loadMeta(ctx context.Context, topic string) (topicMeta, error) {
	url, err := s.queueURL(ctx, s.names().meta(topic))
	if isNotExist(err) {
		return topicMeta{}, fmt.Errorf("topic %q: %w", topic, adapters.ErrTopicNotFound)
	}
	if err != nil {
		return topicMeta{}, fmt.Errorf("topic %q: %w", topic, err)
	}
	out, err := s.client.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: aws.String(url)})
	if isNotExist(err) {
		s.urls.Delete(s.names().meta(topic))
		return topicMeta{}, fmt.Errorf("topic %q: %w", topic, adapters.ErrTopicNotFound)
	}
	if err != nil {
		return topicMeta{}, fmt.Errorf("topic %q: read metadata tags: %w", topic, err)
	}
	return parseMeta(topic, out.Tags)
}

func parseMeta(topic string, tags map[string]string) (topicMeta, error) {
	var m topicMeta
	var err error
	if m.partitions, err = strconv.Atoi(tags[tagPartitions]); err != nil || m.partitions < 1 {
		return m, fmt.Errorf("topic %q: metadata tag %s = %q is not a partition count", topic, tagPartitions, tags[tagPartitions])
	}
	if v := tags[tagMaxDeliveries]; v != "" {
		if m.maxDeliveries, err = strconv.Atoi(v); err != nil || m.maxDeliveries < 0 {
			return m, fmt.Errorf("topic %q: metadata tag %s = %q is not a delivery limit", topic, tagMaxDeliveries, v)
		}
	}
	m.deadLetter = tags[tagDeadLetter] == "true"
	for k, v := range tags {
		if strings.HasPrefix(k, tagSubPrefix) {
			m.subs = append(m.subs, v)
		}
	}
	slices.Sort(m.subs)
	return m, nil
}

// producerMeta is loadMeta cached for metaRefresh, for the send path.
func (s *SQS) producerMeta(ctx context.Context, topic string) (topicMeta, error) {
	s.metaMu.Lock()
	c, ok := s.metas[topic]
	s.metaMu.Unlock()
	if ok && time.Since(c.at) < metaRefresh {
		return c.meta, nil
	}
	m, err := s.loadMeta(ctx, topic)
	if err != nil {
		return topicMeta{}, err
	}
	s.metaMu.Lock()
	s.metas[topic] = cachedMeta{meta: m, at: time.Now()}
	s.metaMu.Unlock()
	return m, nil
}

// CreateTopic creates the topic's metadata queue and, for every listed
// subscription, its partition queues (and its dead-letter queue when the
// topic has a delivery limit or DeadLetter). It is idempotent; an existing
// topic with another partition count gives an error wrapping
// adapters.ErrTopicMismatch. MaxDeliveries becomes the redrive policy's
// maxReceiveCount (1 to 1000); a re-create updates it.
func (s *SQS) CreateTopic(ctx context.Context, spec adapters.TopicSpec) error {
	switch {
	case spec.Name == "" || spec.Partitions < 1:
		return fmt.Errorf("create topic %q: need a name and at least 1 partition (got %d)", spec.Name, spec.Partitions)
	case spec.MaxDeliveries < 0 || spec.MaxDeliveries > maxReceiveCount:
		return fmt.Errorf("create topic %q: MaxDeliveries %d is outside 0..%d (SQS maxReceiveCount is 1 to %d; 0 means no limit)",
			spec.Name, spec.MaxDeliveries, maxReceiveCount, maxReceiveCount)
	}
	for _, sub := range spec.Subscriptions {
		if sub == "" {
			return fmt.Errorf("create topic %q: a subscription name is empty", spec.Name)
		}
	}
	metaName := s.names().meta(spec.Name)
	tags := map[string]string{
		tagPartitions:    strconv.Itoa(spec.Partitions),
		tagMaxDeliveries: strconv.Itoa(spec.MaxDeliveries),
		tagDeadLetter:    strconv.FormatBool(spec.DeadLetter),
	}
	// An existing topic is read before anything is created: CreateQueue
	// of an existing queue with other tags either keeps them (SQS) or
	// replaces them (moto), and neither may hide a mismatch.
	m, err := s.loadMeta(ctx, spec.Name)
	if errors.Is(err, adapters.ErrTopicNotFound) {
		if _, err = s.createQueue(ctx, metaName, nil, tags); err != nil {
			return fmt.Errorf("create topic %q: %w", spec.Name, err)
		}
		m, err = s.loadMeta(ctx, spec.Name)
	}
	if err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	url, err := s.queueURL(ctx, metaName)
	if err != nil {
		return fmt.Errorf("create topic %q: %w", spec.Name, err)
	}
	if m.partitions != spec.Partitions {
		return fmt.Errorf("create topic %q with %d partitions: has %d: %w", spec.Name, spec.Partitions, m.partitions, adapters.ErrTopicMismatch)
	}
	// An existing topic keeps its queues; its limits are updated, as a
	// re-created Redis or RabbitMQ topic's are.
	m.maxDeliveries, m.deadLetter = spec.MaxDeliveries, spec.DeadLetter
	if _, err := s.client.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: aws.String(url), Tags: tags}); err != nil {
		return fmt.Errorf("create topic %q: update metadata tags: %w", spec.Name, err)
	}
	for _, sub := range spec.Subscriptions {
		if err := s.ensureSubscription(ctx, spec.Name, m, sub); err != nil {
			return fmt.Errorf("create topic %q: %w", spec.Name, err)
		}
	}
	return nil
}

// ensureSubscription creates the queues of sub (dead-letter queue first,
// since the partition queues' redrive policy names it) and registers sub
// in the topic's metadata.
func (s *SQS) ensureSubscription(ctx context.Context, topic string, m topicMeta, sub string) error {
	attrs := map[string]string{}
	if m.hasDLQ() {
		dlq, err := s.createQueue(ctx, s.names().dlq(topic, sub), nil, nil)
		if err != nil {
			return fmt.Errorf("subscription %q: %w", sub, err)
		}
		if m.maxDeliveries > 0 {
			arn, err := s.queueARN(ctx, dlq)
			if err != nil {
				return fmt.Errorf("subscription %q: %w", sub, err)
			}
			policy, _ := json.Marshal(map[string]any{"deadLetterTargetArn": arn, "maxReceiveCount": m.maxDeliveries})
			attrs[string(types.QueueAttributeNameRedrivePolicy)] = string(policy)
		}
	}
	err := parallel(m.partitions, createParallelism, func(p int) error {
		_, err := s.createQueue(ctx, s.names().partition(topic, sub, p), attrs, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("subscription %q: %w", sub, err)
	}
	metaURL, err := s.queueURL(ctx, s.names().meta(topic))
	if err != nil {
		return fmt.Errorf("subscription %q: %w", sub, err)
	}
	if _, err := s.client.TagQueue(ctx, &sqs.TagQueueInput{
		QueueUrl: aws.String(metaURL), Tags: map[string]string{tagSubPrefix + hash10(sub): sub},
	}); err != nil {
		return fmt.Errorf("subscription %q: register in topic metadata: %w", sub, err)
	}
	return nil
}

// createQueue creates a queue with the adapter's base attributes (FIFO,
// visibility timeout) plus extra, or updates an existing queue's attributes
// to them, and returns its URL. Tags are set only on creation.
func (s *SQS) createQueue(ctx context.Context, name string, extra, tags map[string]string) (string, error) {
	attrs := map[string]string{
		string(types.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(s.cfg.VisibilityTimeout / time.Second)),
	}
	if s.cfg.FIFO {
		attrs[string(types.QueueAttributeNameFifoQueue)] = "true"
	}
	for k, v := range extra {
		attrs[k] = v
	}
	out, err := s.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs, Tags: tags})
	var exists *types.QueueNameExists
	if errors.As(err, &exists) {
		// The queue exists with other attributes (an earlier run's
		// visibility timeout or delivery limit): update them.
		url, err := s.queueURL(ctx, name)
		if err != nil {
			return "", err
		}
		delete(attrs, string(types.QueueAttributeNameFifoQueue)) // immutable
		if _, err := s.client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: attrs}); err != nil {
			return "", fmt.Errorf("update attributes of queue %s: %w", name, err)
		}
		return url, nil
	}
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	s.urls.Store(name, *out.QueueUrl)
	return *out.QueueUrl, nil
}

func (s *SQS) queueARN(ctx context.Context, url string) (string, error) {
	out, err := s.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("get ARN of %s: %w", url, err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", fmt.Errorf("queue %s reports no QueueArn", url)
	}
	return arn, nil
}

// DeleteTopic deletes every queue of the topic: partition and dead-letter
// queues of each subscription, then the metadata queue, so that a failed
// delete can be retried. A missing topic is not an error. SQS forbids
// re-creating a deleted queue's name for 60 seconds.
func (s *SQS) DeleteTopic(ctx context.Context, topic string) error {
	m, err := s.loadMeta(ctx, topic)
	if errors.Is(err, adapters.ErrTopicNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete topic: %w", err)
	}
	n := s.names()
	var queues []string
	for _, sub := range m.subs {
		for p := range m.partitions {
			queues = append(queues, n.partition(topic, sub, p))
		}
		if m.hasDLQ() {
			queues = append(queues, n.dlq(topic, sub))
		}
	}
	if err := parallel(len(queues), createParallelism, func(i int) error {
		return s.deleteQueue(ctx, queues[i])
	}); err != nil {
		return fmt.Errorf("delete topic %q: %w", topic, err)
	}
	if err := s.deleteQueue(ctx, n.meta(topic)); err != nil {
		return fmt.Errorf("delete topic %q: %w", topic, err)
	}
	s.metaMu.Lock()
	delete(s.metas, topic)
	s.metaMu.Unlock()
	return nil
}

// deleteQueue deletes a queue by name; a missing queue is not an error.
func (s *SQS) deleteQueue(ctx context.Context, name string) error {
	url, err := s.queueURL(ctx, name)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
	s.urls.Delete(name)
	if err != nil && !isNotExist(err) {
		return fmt.Errorf("delete queue %s: %w", name, err)
	}
	return nil
}

// parallel runs fn(0..n-1) with at most limit running at once and returns
// their errors joined.
func parallel(n, limit int, fn func(i int) error) error {
	sem := make(chan struct{}, limit)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
