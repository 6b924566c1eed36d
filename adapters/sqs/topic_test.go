package sqs_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/adapters/sqs"
	"github.com/brokerbench/brokerbench/adapters/sqs/sqstest"
)

func newTopic(t *testing.T, s adapters.System, spec adapters.TopicSpec) string {
	t.Helper()
	spec.Name = "bbtest-sqs-" + adaptertest.Suffix()
	return adaptertest.NewTopic(t, s, spec)
}

// rawClient is a plain SDK client on the emulator, to inspect what the
// adapter created.
func rawClient(t *testing.T) *awssqs.Client {
	t.Helper()
	cfg := sqstest.Shared(t).Config(false)
	return awssqs.New(awssqs.Options{Region: cfg.Region, BaseEndpoint: aws.String(cfg.Endpoint), Credentials: cfg.Credentials})
}

func TestTopicErrors(t *testing.T) {
	t.Parallel()
	s := newSQS(t, false)
	ctx := t.Context()
	topic := newTopic(t, s, adapters.TopicSpec{Partitions: 2, Subscriptions: []string{"s"}})
	if err := s.CreateTopic(ctx, adapters.TopicSpec{Name: topic, Partitions: 3}); !errors.Is(err, adapters.ErrTopicMismatch) {
		t.Fatalf("CreateTopic with other partitions = %v, want ErrTopicMismatch", err)
	}
	if err := s.CreateTopic(ctx, adapters.TopicSpec{Name: topic + "x", Partitions: 1, MaxDeliveries: 1001}); err == nil {
		t.Fatal("CreateTopic with MaxDeliveries 1001 (over the SQS maximum) succeeded")
	}
	if err := s.DeleteTopic(ctx, "bbtest-sqs-missing-"+adaptertest.Suffix()); err != nil {
		t.Fatalf("DeleteTopic of a missing topic: %v", err)
	}
	_, err := s.NewConsumer(ctx, adaptertest.ConsumerConfig("bbtest-missing-"+adaptertest.Suffix(), "s", 1, func(*adapters.Delivery) {}))
	if !errors.Is(err, adapters.ErrTopicNotFound) {
		t.Fatalf("NewConsumer on a missing topic = %v, want ErrTopicNotFound", err)
	}
	if _, err := s.NewProducer(ctx, adapters.ProducerConfig{ID: "idem", Idempotent: true}); !errors.Is(err, adapters.ErrNotApplicable) {
		t.Fatalf("idempotent producer on standard queues = %v, want ErrNotApplicable", err)
	}
	bare := newTopic(t, s, adapters.TopicSpec{Partitions: 1}) // no subscription
	p := adaptertest.NewProducer(t, s, adapters.ProducerConfig{ID: "errs"})
	for _, tt := range []struct {
		m    adapters.Message
		want error
	}{
		{adapters.Message{Topic: topic, Partition: 2}, adapters.ErrBadPartition},
		{adapters.Message{Topic: "bbtest-missing-" + adaptertest.Suffix()}, adapters.ErrTopicNotFound},
		{adapters.Message{Topic: bare}, sqs.ErrNoSubscription},
		{adapters.Message{Topic: topic, Value: make([]byte, 200*1024)}, sqs.ErrTooLarge},
	} {
		if err := adaptertest.SendErr(t, p, &tt.m); !errors.Is(err, tt.want) {
			t.Errorf("Send(topic %s partition %d, %d bytes) = %v, want %v", tt.m.Topic, tt.m.Partition, len(tt.m.Value), err, tt.want)
		}
	}
	res := adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: -1, Key: []byte("k")})
	if res.Partition < 0 || res.Partition > 1 || res.Offset != -1 {
		t.Fatalf("keyed send with Partition -1 = %+v", res)
	}
}

// TestRedrivePolicy: the delivery limit is each partition queue's redrive
// policy, naming the subscription's dead-letter queue, and a re-create
// with another limit updates it.
func TestRedrivePolicy(t *testing.T) {
	t.Parallel()
	s := newSQS(t, false)
	raw := rawClient(t)
	topic := newTopic(t, s, adapters.TopicSpec{Partitions: 2, Subscriptions: []string{"s"}, MaxDeliveries: 4, DeadLetter: true})
	policy := func() (arn string, max int) {
		t.Helper()
		out, err := raw.ListQueues(t.Context(), &awssqs.ListQueuesInput{QueueNamePrefix: aws.String("bbt-" + topic[:22])})
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, u := range out.QueueUrls {
			if strings.Contains(u, "-p") && !strings.HasSuffix(u, "-meta") {
				parts = append(parts, u)
			}
		}
		if len(parts) != 2 {
			t.Fatalf("partition queues of %s: %v", topic, out.QueueUrls)
		}
		for _, u := range parts {
			a, err := raw.GetQueueAttributes(t.Context(), &awssqs.GetQueueAttributesInput{
				QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
			})
			if err != nil {
				t.Fatal(err)
			}
			var rp struct {
				Arn string          `json:"deadLetterTargetArn"`
				Max json.RawMessage `json:"maxReceiveCount"`
			}
			if err := json.Unmarshal([]byte(a.Attributes["RedrivePolicy"]), &rp); err != nil {
				t.Fatalf("RedrivePolicy of %s = %q: %v", u, a.Attributes["RedrivePolicy"], err)
			}
			n := strings.Trim(string(rp.Max), `"`)
			max = int(n[0] - '0')
			arn = rp.Arn
		}
		return arn, max
	}
	if arn, max := policy(); max != 4 || !strings.HasSuffix(arn, "-dlq") {
		t.Fatalf("redrive policy = %s, %d; want the -dlq queue and 4", arn, max)
	}
	if err := s.CreateTopic(t.Context(), adapters.TopicSpec{Name: topic, Partitions: 2, Subscriptions: []string{"s"}, MaxDeliveries: 2, DeadLetter: true}); err != nil {
		t.Fatal(err)
	}
	if _, max := policy(); max != 2 {
		t.Fatalf("maxReceiveCount after re-create = %d, want 2", max)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	cfg := sqstest.Shared(t).Config(false)
	cfg.Endpoint = "http://127.0.0.1:1" // nothing listens on port 1
	cfg.MaxAttempts = 1
	_, err := sqs.New(t.Context(), cfg)
	if !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("New against a closed port = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "testing") {
		t.Fatalf("credentials leaked in %v", err)
	}
}

// TestThrottlingRetriedAndCounted puts a proxy in front of the emulator
// that answers the first requests as SQS does when it throttles: the SDK
// retries them with backoff, and Throttled counts them.
func TestThrottlingRetriedAndCounted(t *testing.T) {
	t.Parallel()
	var throttle atomic.Int32
	throttle.Store(2)
	cfg := interceptedConfig(t, func(w http.ResponseWriter, _ *http.Request) bool {
		if throttle.Add(-1) < 0 {
			return false
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("x-amzn-query-error", "RequestThrottled;Sender")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Rate exceeded"}`))
		return true
	})
	s, err := sqs.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New through two throttled responses: %v", err)
	}
	if n := s.Throttled(); n != 2 {
		t.Fatalf("Throttled() = %d, want 2", n)
	}
	throttle.Store(1)
	cfg.MaxAttempts = 1
	if _, err := sqs.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "RequestThrottled") {
		t.Fatalf("New with one attempt through a throttled response = %v, want a RequestThrottled error", err)
	}
}

// TestSubscriptionAddedByConsumer: a consumer of a subscription CreateTopic
// did not list creates its queues and registers it, so sends from then on
// reach it, and Lag knows it; a partition count other than the topic's is
// refused.
func TestSubscriptionAddedByConsumer(t *testing.T) {
	t.Parallel()
	s := newSQS(t, false)
	topic := newTopic(t, s, adapters.TopicSpec{Partitions: 2, Subscriptions: []string{"a"}})
	if _, err := s.NewConsumer(t.Context(), adaptertest.ConsumerConfig(topic, "b", 3, func(*adapters.Delivery) {})); !errors.Is(err, adapters.ErrTopicMismatch) {
		t.Fatalf("NewConsumer with 3 partitions on a 2-partition topic = %v, want ErrTopicMismatch", err)
	}
	rec := &adaptertest.Recorder{}
	adaptertest.NewConsumer(t, s, adaptertest.ConsumerConfig(topic, "b", 2, rec.Handle))
	p := adaptertest.NewProducer(t, s, adapters.ProducerConfig{ID: "late-sub"})
	for i := range 4 {
		adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: int32(i % 2), Value: []byte{byte(i)}})
	}
	adaptertest.WaitFor(t, 30*time.Second, "4 deliveries to the new subscription", func() bool { return rec.Distinct() == 4 })
	adaptertest.WaitFor(t, 30*time.Second, "lag 4 on the listed subscription", func() bool {
		lag, err := s.Lag(t.Context(), topic, "a")
		return err == nil && lag[0]+lag[1] == 4
	})
	if _, err := s.Lag(t.Context(), topic, "nosuch"); err == nil {
		t.Fatal("Lag of a missing subscription: want an error")
	}
}

// TestCommitAutoDeletesOnReceipt: CommitAuto deletes a received batch
// before the handlers run (at most once), so the queue is empty while the
// first handler is still blocked.
func TestCommitAutoDeletesOnReceipt(t *testing.T) {
	t.Parallel()
	s := newSQS(t, false)
	topic := newTopic(t, s, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}})
	p := adaptertest.NewProducer(t, s, adapters.ProducerConfig{ID: "auto"})
	for i := range 3 {
		adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte{byte(i)}})
	}
	block, entered := make(chan struct{}), make(chan struct{}, 3)
	t.Cleanup(func() { close(block) })
	rec := &adaptertest.Recorder{Hook: func(*adapters.Delivery) { entered <- struct{}{}; <-block }}
	cfg := adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle)
	cfg.Commit = adapters.CommitAuto
	c := adaptertest.NewConsumer(t, s, cfg)
	<-entered
	adaptertest.WaitFor(t, 30*time.Second, "an empty queue while the handler is blocked", func() bool {
		lag, err := s.Lag(t.Context(), topic, "s")
		return err == nil && lag[0] == 0
	})
	if err := c.Crash(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSend measures batched sends of one producer to a 4-partition
// topic with one subscription. Against the emulator it measures moto, not
// SQS; it exists so that `make test` runs the send path once.
func BenchmarkSend(b *testing.B) {
	s := newSQS(b, false)
	topic := "bbbench-sqs-" + adaptertest.Suffix()
	adaptertest.NewTopic(b, s, adapters.TopicSpec{Name: topic, Partitions: 4, Subscriptions: []string{"s"}})
	adaptertest.BenchSend(b, adaptertest.NewProducer(b, s, adapters.ProducerConfig{ID: "bench"}), topic, 4)
}

// interceptedConfig returns the emulator's configuration with a proxy in
// front: intercept sees every request first and answers it itself by
// returning true, or lets it through to the emulator.
func interceptedConfig(t *testing.T, intercept func(w http.ResponseWriter, r *http.Request) bool) sqs.Config {
	t.Helper()
	cfg := sqstest.Shared(t).Config(false)
	target, err := url.Parse(cfg.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !intercept(w, r) {
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	cfg.Endpoint = srv.URL
	return cfg
}
