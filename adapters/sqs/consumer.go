package sqs

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/brokerbench/brokerbench/adapters"
)

// errorBackoff is how long a receive loop waits after a failed receive
// before polling again (the SDK has already retried it).
const errorBackoff = 500 * time.Millisecond

// leaseMargin is how long before its visibility timeout ends a received
// message is no longer handed to the handler: the handler and the delete
// need some of the lease.
const leaseMargin = 500 * time.Millisecond

// partitionQueue is one partition queue a consumer polls.
type partitionQueue struct {
	partition int32
	url       string
}

type consumer struct {
	s          *SQS
	cfg        adapters.ConsumerConfig
	queues     []partitionQueue
	dlqURL     string // "" when rejected messages are deleted
	visibility int32  // seconds
	max        int32  // messages per receive

	pollCtx    context.Context // cancelled by Crash, or by Close past its deadline
	cancelPoll context.CancelFunc
	stopping   atomic.Bool // Close: finish the current poll and batch, then stop
	crashed    atomic.Bool
	loops      sync.WaitGroup
	stopped    chan struct{}
	stopOnce   sync.Once
}

var _ adapters.Stopper = (*consumer)(nil)

// NewConsumer starts one receive loop per partition queue of the
// subscription, creating the subscription's queues when CreateTopic did
// not (it then receives what is sent after that, within a second).
// ConsumerConfig.SessionTimeout, when set, is the visibility timeout of its
// receives (rounded up to whole seconds), so a crashed consumer's messages
// come back after it; Prefetch (default and maximum 10) is the messages one
// receive may return, per partition queue.
func (s *SQS) NewConsumer(ctx context.Context, cfg adapters.ConsumerConfig) (adapters.Consumer, error) {
	switch {
	case cfg.Handler == nil:
		return nil, fmt.Errorf("new consumer %q: Handler is nil", cfg.ID)
	case cfg.Subscription == "":
		return nil, fmt.Errorf("new consumer %q: Subscription is empty", cfg.ID)
	case cfg.MaxDeliveries < 0:
		return nil, fmt.Errorf("new consumer %q: MaxDeliveries %d is negative", cfg.ID, cfg.MaxDeliveries)
	case cfg.InstanceID != "":
		return nil, fmt.Errorf("new consumer %q: %w: SQS has no static membership", cfg.ID, adapters.ErrNotApplicable)
	}
	m, err := s.loadMeta(ctx, cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("new consumer %q: %w", cfg.ID, err)
	}
	if cfg.Partitions != 0 && cfg.Partitions != m.partitions {
		return nil, fmt.Errorf("new consumer %q: topic %q has %d partitions, not %d: %w", cfg.ID, cfg.Topic, m.partitions, cfg.Partitions, adapters.ErrTopicMismatch)
	}
	if !m.hasSub(cfg.Subscription) {
		if err := s.ensureSubscription(ctx, cfg.Topic, m, cfg.Subscription); err != nil {
			return nil, fmt.Errorf("new consumer %q on topic %q: %w", cfg.ID, cfg.Topic, err)
		}
	}
	c := &consumer{s: s, cfg: cfg, stopped: make(chan struct{})}
	c.max, c.visibility = s.receiveSizing(cfg)
	n := s.names()
	for p := range m.partitions {
		url, err := s.queueURL(ctx, n.partition(cfg.Topic, cfg.Subscription, p))
		if err != nil {
			return nil, fmt.Errorf("new consumer %q: %w", cfg.ID, err)
		}
		c.queues = append(c.queues, partitionQueue{partition: int32(p), url: url})
	}
	if m.deadLetter {
		if c.dlqURL, err = s.queueURL(ctx, n.dlq(cfg.Topic, cfg.Subscription)); err != nil {
			return nil, fmt.Errorf("new consumer %q: %w", cfg.ID, err)
		}
	}
	c.pollCtx, c.cancelPoll = context.WithCancel(context.Background())
	assigned := make([]int32, len(c.queues))
	for i, q := range c.queues {
		assigned[i] = q.partition
		c.loops.Go(func() { c.receiveLoop(q) })
	}
	if cfg.OnAssigned != nil {
		// Every consumer of a subscription polls every partition queue;
		// nothing is ever revoked until Close.
		cfg.OnAssigned(assigned)
	}
	go func() {
		c.loops.Wait()
		c.stopOnce.Do(func() { close(c.stopped) })
	}()
	return c, nil
}

// seconds rounds d up to whole seconds, at least 1 and at most 12 hours.
func seconds(d time.Duration) int32 {
	s := (d + time.Second - 1) / time.Second
	return int32(min(max(s, 1), maxVisibilityTimeout/time.Second))
}

// receiveLoop long-polls one partition queue until Close or Crash.
func (c *consumer) receiveLoop(q partitionQueue) {
	for !c.stopping.Load() && c.pollCtx.Err() == nil {
		// The lease of the received messages runs from (at the latest)
		// the moment SQS answers, so measured from before the request
		// it ends no later than leaseEnd.
		leaseEnd := time.Now().Add(time.Duration(c.visibility)*time.Second - leaseMargin)
		out, err := c.s.client.ReceiveMessage(c.pollCtx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(q.url),
			MaxNumberOfMessages:         c.max,
			WaitTimeSeconds:             int32(c.s.cfg.WaitTime / time.Second),
			VisibilityTimeout:           c.visibility,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			if c.pollCtx.Err() != nil {
				return
			}
			if isNotExist(err) { // the topic was deleted
				return
			}
			t := time.NewTimer(errorBackoff)
			select {
			case <-t.C:
			case <-c.pollCtx.Done():
				t.Stop()
			}
			continue
		}
		c.handleBatch(q, out.Messages, leaseEnd)
	}
}

// handleBatch hands each message to the handler and applies its
// disposition: accepted messages are deleted together after the batch,
// released ones made visible at once, rejected ones dead-lettered or
// deleted. A released message comes back after the rest of its batch: in
// FIFO mode too, since releasing the rest with it would raise their
// receive counts towards the delivery limit although no handler saw them.
// On Close the messages not yet handled are released; on Crash nothing
// more is deleted or changed. Messages whose visibility timeout has run
// out before their turn are left to SQS, which redelivers them.
func (c *consumer) handleBatch(q partitionQueue, msgs []types.Message, leaseEnd time.Time) {
	auto := c.cfg.Commit == adapters.CommitAuto
	if auto && len(msgs) > 0 {
		// Auto-ack: at most once, like a broker acking on delivery. The
		// batch is the consumer's now, so Close and the lease no longer
		// hold it back from the handler.
		c.deleteBatch(q, handles(msgs), nil)
	}
	var acks []string
	var refs []uint64 // of the accepted deliveries in acks (OnAcked); 0 for rejected ones
	for i := range msgs {
		if c.crashed.Load() {
			return
		}
		if auto {
			d := c.delivery(q, &msgs[i])
			c.cfg.Handler(d)
			if c.cfg.OnAcked != nil && d.Disposition == adapters.Accept {
				c.cfg.OnAcked(q.partition, []uint64{d.Ref})
			}
			continue
		}
		if c.stopping.Load() {
			c.release(q.url, msgs[i:])
			break
		}
		if time.Now().After(leaseEnd) {
			// The visibility timeout has expired (a slow response or slow
			// handlers): SQS may already have given the rest of the batch
			// to another consumer, so handling it here would duplicate it.
			break
		}
		d := c.delivery(q, &msgs[i])
		c.cfg.Handler(d)
		if c.crashed.Load() {
			return // a crashed process acks nothing
		}
		switch d.Disposition {
		case adapters.Accept:
			acks = append(acks, aws.ToString(msgs[i].ReceiptHandle))
			refs = append(refs, d.Ref)
		case adapters.Reject:
			if c.deadLetter(&msgs[i]) {
				acks = append(acks, aws.ToString(msgs[i].ReceiptHandle))
				refs = append(refs, rejectedRef)
			}
		case adapters.Release:
			c.release(q.url, msgs[i:i+1])
		}
	}
	c.deleteBatch(q, acks, refs)
}

// rejectedRef marks, in deleteBatch's refs, a dead-lettered delivery: it
// is deleted but not reported as acked (OnAcked reports accepts only).
const rejectedRef = ^uint64(0)

// delivery builds the Delivery of one message. A body the adapter did not
// write is delivered as the value, with a nil key.
func (c *consumer) delivery(q partitionQueue, m *types.Message) *adapters.Delivery {
	key, value, err := decodeBody(aws.ToString(m.Body))
	if err != nil {
		key, value = nil, []byte(aws.ToString(m.Body))
	}
	count, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	return &adapters.Delivery{
		Topic:         c.cfg.Topic,
		Partition:     q.partition,
		Offset:        -1,
		Key:           key,
		Value:         value,
		Redelivered:   count > 1,
		DeliveryCount: count,
	}
}

func handles(msgs []types.Message) []string {
	hs := make([]string, len(msgs))
	for i := range msgs {
		hs[i] = aws.ToString(msgs[i].ReceiptHandle)
	}
	return hs
}

// opCtx bounds one acknowledgement request: acks outlive Close's caller
// only as long as a request may take.
func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// deleteBatch deletes messages by receipt handle, 10 per request. A failed
// delete (an expired receipt handle) means SQS redelivers the message:
// at-least-once, as documented. refs, when not nil, are the Refs of the
// deliveries (rejectedRef for dead-lettered ones): the accepted deliveries
// SQS confirms deleted are reported to OnAcked, and only those, so a
// history records an ack only where SQS has one.
func (c *consumer) deleteBatch(q partitionQueue, receipts []string, refs []uint64) {
	var acked []uint64
	for len(receipts) > 0 {
		n := min(len(receipts), maxBatch)
		entries := make([]types.DeleteMessageBatchRequestEntry, n)
		for i := range n {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(receipts[i])}
		}
		ctx, cancel := opCtx()
		out, err := c.s.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
		cancel()
		if err == nil && refs != nil && c.cfg.OnAcked != nil {
			acked = acked[:0]
			for _, e := range out.Successful {
				i, err := strconv.Atoi(aws.ToString(e.Id))
				if err == nil && i >= 0 && i < n && refs[i] != rejectedRef {
					acked = append(acked, refs[i])
				}
			}
			if len(acked) > 0 && !c.crashed.Load() {
				c.cfg.OnAcked(q.partition, acked)
			}
		}
		receipts = receipts[n:]
		if refs != nil {
			refs = refs[n:]
		}
	}
}

// release makes messages visible again at once (ChangeMessageVisibility
// 0): a nack. Their receive count has already grown, so the redrive
// policy's delivery limit applies.
func (c *consumer) release(url string, msgs []types.Message) {
	for len(msgs) > 0 {
		n := min(len(msgs), maxBatch)
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, n)
		for i := range n {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msgs[i].ReceiptHandle, VisibilityTimeout: 0,
			}
		}
		ctx, cancel := opCtx()
		_, _ = c.s.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: entries})
		cancel()
		msgs = msgs[n:]
	}
}

// deadLetter copies a rejected message to the subscription's dead-letter
// queue and reports whether the original may be deleted: true once the
// copy is stored, or at once when the topic has no dead-letter queue (the
// message is dropped). SQS has no "reject", so this is a send and a
// delete, not atomic: a crash between them leaves the message in both.
func (c *consumer) deadLetter(m *types.Message) bool {
	if c.dlqURL == "" {
		return true
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(c.dlqURL), MessageBody: m.Body}
	if c.s.cfg.FIFO {
		in.MessageGroupId = aws.String("dlq")
		in.MessageDeduplicationId = m.MessageId
	}
	ctx, cancel := opCtx()
	defer cancel()
	_, err := c.s.client.SendMessage(ctx, in)
	return err == nil // else it stays in flight and comes back: not lost
}

// Close stops polling after the current receive (at most Config.WaitTime),
// lets the handler in progress finish, deletes what was accepted and
// releases what was received but not handled. If ctx ends first, the
// polls are cancelled and Close returns ctx's error.
func (c *consumer) Close(ctx context.Context) error {
	if c.crashed.Load() {
		return nil // a crashed consumer has nothing left to close
	}
	c.stopping.Store(true)
	select {
	case <-c.stopped:
		c.cancelPoll()
		return nil
	case <-ctx.Done():
		c.cancelPoll()
		return fmt.Errorf("close consumer %q: %w", c.cfg.ID, ctx.Err())
	}
}

// Crash stops at once without deleting or releasing anything: the messages
// held come back when their visibility timeout expires.
func (c *consumer) Crash() error {
	c.crashed.Store(true)
	c.stopping.Store(true)
	c.cancelPoll()
	return nil
}

// Stopped is closed when every receive loop has ended: after Close or
// Crash, or when the topic's queues were deleted.
func (c *consumer) Stopped() <-chan struct{} { return c.stopped }

// receiveSizing is what one ReceiveMessage asks for: at most 10 messages
// (SQS's limit) or the prefetch if smaller, and the visibility timeout in
// seconds (the session timeout, else the configured one).
func (s *SQS) receiveSizing(cfg adapters.ConsumerConfig) (most, visibility int32) {
	most, visibility = maxBatch, seconds(s.cfg.VisibilityTimeout)
	if cfg.SessionTimeout > 0 {
		visibility = seconds(cfg.SessionTimeout)
	}
	if cfg.Prefetch > 0 && cfg.Prefetch < maxBatch {
		most = int32(cfg.Prefetch)
	}
	return most, visibility
}
