package redis

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

const redisAddr = "127.0.0.1:6379"

// newRedis connects to the local Redis (skipping without it, failing in CI)
// and closes the system when t ends.
func newRedis(t testing.TB) *Redis {
	t.Helper()
	adaptertest.RequireService(t, "redis", redisAddr)
	cfg := Config{}.Default()
	cfg.Addrs = []string{redisAddr}
	cfg.Block = 100 * time.Millisecond // quick Close in tests
	r, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// newTopic creates a uniquely named topic and deletes it when t ends.
func newTopic(t testing.TB, r *Redis, spec adapters.TopicSpec) string {
	t.Helper()
	spec.Name = "bbtest-redis-" + adaptertest.Suffix()
	return adaptertest.NewTopic(t, r, spec)
}

// TestPipelinedSends keeps many sends outstanding from several goroutines
// and checks every callback runs once with offsets that grow per partition in
// callback order (one flusher sends pipelines in Send order).
func TestPipelinedSends(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	const parts, senders, perSender = 4, 4, 1500
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: parts})
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "pipe", MaxInFlight: 64, Acks: adapters.AcksLeader})
	var mu sync.Mutex
	last := map[int32]int64{}
	var calls, failures atomic.Int64
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				m := &adapters.Message{Topic: topic, Partition: int32((s + i) % parts), Value: []byte("v")}
				p.Send(t.Context(), m, func(res adapters.SendResult, err error) {
					calls.Add(1)
					mu.Lock()
					defer mu.Unlock()
					if err != nil || res.Offset <= last[res.Partition] {
						failures.Add(1)
						return
					}
					last[res.Partition] = res.Offset
				})
			}
		})
	}
	wg.Wait()
	if err := p.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := calls.Load(); got != senders*perSender {
		t.Fatalf("callbacks = %d after Flush, want %d", got, senders*perSender)
	}
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d sends failed or got a non-increasing offset", f)
	}
	var total int64
	for i := range parts {
		total += r.admin.XLen(t.Context(), r.layout.stream(topic, i)).Val()
	}
	if total != senders*perSender {
		t.Fatalf("streams hold %d entries, want %d", total, senders*perSender)
	}
}

// TestBinaryPayloads round-trips every byte value, an empty value, and nil
// versus empty keys.
func TestBinaryPayloads(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 2, Subscriptions: []string{"s"}})
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	msgs := []adapters.Message{
		{Partition: 0, Key: all, Value: all},
		{Partition: 1, Key: nil, Value: []byte{}},
		{Partition: 1, Key: []byte{}, Value: []byte{0, '\r', '\n', 0}},
	}
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "bin"})
	type at struct {
		partition int32
		offset    int64
	}
	sent := map[at]adapters.Message{}
	for i := range msgs {
		msgs[i].Topic = topic
		sent[at{msgs[i].Partition, adaptertest.SendSync(t, p, &msgs[i]).Offset}] = msgs[i]
	}
	rec := &adaptertest.Recorder{}
	adaptertest.NewConsumer(t, r, adaptertest.ConsumerConfig(topic, "s", 2, rec.Handle))
	adaptertest.WaitFor(t, 10*time.Second, "all deliveries", func() bool { return rec.Len() == len(msgs) })
	for _, d := range rec.All() {
		want, ok := sent[at{d.Partition, d.Offset}]
		if !ok {
			t.Fatalf("delivery with unknown partition %d offset %d", d.Partition, d.Offset)
		}
		if d.Partition != want.Partition || !bytes.Equal(d.Value, want.Value) || !bytes.Equal(d.Key, want.Key) ||
			(d.Key == nil) != (want.Key == nil) || d.Redelivered {
			t.Errorf("got p%d key %q (nil %t) value %q redelivered %t; want p%d key %q (nil %t) value %q",
				d.Partition, d.Key, d.Key == nil, d.Value, d.Redelivered, want.Partition, want.Key, want.Key == nil, want.Value)
		}
	}
}

// TestAutoClaimAfterCrash crashes a consumer whose handler is blocked and
// checks that another consumer XAUTOCLAIMs its pending entries after the
// session timeout, marked as redelivered.
func TestAutoClaimAfterCrash(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}})
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "claim"})
	for i := range 5 {
		adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte{byte(i)}})
	}
	block, entered := make(chan struct{}), make(chan struct{}, 1)
	stuck := &adaptertest.Recorder{Hook: func(*adapters.Delivery) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-block
	}}
	cfg := adaptertest.ConsumerConfig(topic, "s", 1, stuck.Handle)
	cfg.SessionTimeout = 300 * time.Millisecond
	c1 := adaptertest.NewConsumer(t, r, cfg)
	<-entered
	if err := c1.Crash(); err != nil {
		t.Fatalf("Crash: %v", err)
	}
	close(block)

	rec := &adaptertest.Recorder{}
	cfg2 := adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle)
	cfg2.SessionTimeout = 300 * time.Millisecond
	adaptertest.NewConsumer(t, r, cfg2)
	adaptertest.WaitFor(t, 10*time.Second, "claimed entries", func() bool { return rec.Len() >= 5 })
	for _, d := range rec.All() {
		if !d.Redelivered {
			t.Errorf("entry %d was claimed from a crashed consumer but not marked redelivered", d.Value)
		}
	}
	if stuck.Len() > 1 {
		t.Errorf("crashed consumer handled %d entries after Crash", stuck.Len())
	}
}

// TestRestartResumesOwnPending: a consumer restarted with the same ID gets
// its crashed predecessor's pending entries at once, long before the session
// timeout.
func TestRestartResumesOwnPending(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 2, Subscriptions: []string{"s"}})
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "own"})
	for i := range 6 {
		adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: int32(i % 2), Value: []byte{byte(i)}})
	}
	block := make(chan struct{})
	stuck := &adaptertest.Recorder{Hook: func(*adapters.Delivery) { <-block }}
	cfg := adaptertest.ConsumerConfig(topic, "s", 2, stuck.Handle)
	cfg.SessionTimeout = time.Hour
	c1 := adaptertest.NewConsumer(t, r, cfg)
	adaptertest.WaitFor(t, 10*time.Second, "6 entries pending", func() bool {
		return r.admin.XPending(t.Context(), r.layout.stream(topic, 0), "s").Val().Count == 3 &&
			r.admin.XPending(t.Context(), r.layout.stream(topic, 1), "s").Val().Count == 3
	})
	_ = c1.Crash()
	close(block)
	rec := &adaptertest.Recorder{}
	cfg.Handler = rec.Handle
	adaptertest.NewConsumer(t, r, cfg)
	adaptertest.WaitFor(t, 10*time.Second, "pending entries re-read", func() bool { return rec.Len() >= 6 })
	for _, d := range rec.All() {
		if !d.Redelivered {
			t.Errorf("re-read pending entry %v not marked redelivered", d.Value)
		}
	}
}

// TestMaxLenTrimming: RetentionBytes becomes MAXLEN ~ RetentionBytes /
// EntryBytes, so the stream stays near that length.
func TestMaxLenTrimming(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	const want = 200
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1, RetentionBytes: want * r.cfg.EntryBytes})
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "trim"})
	const sent = 3000
	for range sent {
		p.Send(t.Context(), &adapters.Message{Topic: topic, Partition: 0, Value: []byte("x")}, nil)
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	n := r.admin.XLen(t.Context(), r.layout.stream(topic, 0)).Val()
	// "~" trims whole radix-tree nodes (stream-node-max-entries, default
	// 100), so the length is at least MAXLEN and at most about a node more.
	if n < want || n > want+2*100 {
		t.Fatalf("XLEN = %d after %d sends, want about %d", n, sent, want)
	}
}

// TestLag: Lag counts undelivered plus pending entries and drops to 0.
func TestLag(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 2, Subscriptions: []string{"s"}})
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "lag"})
	for i := range 10 {
		adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: int32(i % 2), Value: []byte("x")})
	}
	lag, err := r.Lag(t.Context(), topic, "s")
	if err != nil || lag[0] != 5 || lag[1] != 5 {
		t.Fatalf("Lag before consuming = %v, %v; want 5 per partition", lag, err)
	}
	if _, err := r.Lag(t.Context(), topic, "nosuchgroup"); err == nil {
		t.Fatal("Lag of a missing subscription: want an error")
	}
	rec := &adaptertest.Recorder{}
	adaptertest.NewConsumer(t, r, adaptertest.ConsumerConfig(topic, "s", 2, rec.Handle))
	adaptertest.WaitFor(t, 10*time.Second, "lag 0", func() bool {
		lag, err := r.Lag(t.Context(), topic, "s")
		return err == nil && lag[0] == 0 && lag[1] == 0
	})
}

// TestCloseRemovesIdleConsumer: a graceful Close acks and removes the Redis
// consumer from the group.
func TestCloseRemovesIdleConsumer(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}})
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "close"})
	adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("x")})
	rec := &adaptertest.Recorder{}
	cfg := adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle)
	cfg.Commit = adapters.CommitInterval
	cfg.CommitInterval = time.Hour // only Close acks
	c := adaptertest.NewConsumer(t, r, cfg)
	adaptertest.WaitFor(t, 10*time.Second, "delivery", func() bool { return rec.Len() == 1 })
	if err := c.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := r.admin.XPending(t.Context(), r.layout.stream(topic, 0), "s").Val().Count; n != 0 {
		t.Fatalf("%d entries pending after Close", n)
	}
	cs, err := r.admin.XInfoConsumers(t.Context(), r.layout.stream(topic, 0), "s").Result()
	if err != nil || len(cs) != 0 {
		t.Fatalf("consumers after Close = %v, %v; want none", cs, err)
	}
}

func TestTopicErrors(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 2})
	ctx := t.Context()
	if err := r.CreateTopic(ctx, adapters.TopicSpec{Name: topic, Partitions: 2}); err != nil {
		t.Fatalf("idempotent CreateTopic: %v", err)
	}
	if err := r.CreateTopic(ctx, adapters.TopicSpec{Name: topic, Partitions: 3}); !errors.Is(err, adapters.ErrTopicMismatch) {
		t.Fatalf("CreateTopic with other partitions = %v, want adapters.ErrTopicMismatch", err)
	}
	if err := r.DeleteTopic(ctx, "bbtest-redis-missing-"+adaptertest.Suffix()); err != nil {
		t.Fatalf("DeleteTopic of a missing topic: %v", err)
	}
	_, err := r.NewConsumer(ctx, adapters.ConsumerConfig{ID: "x", Topic: "bbtest-missing-" + adaptertest.Suffix(), Subscription: "s", Handler: func(*adapters.Delivery) {}})
	if !errors.Is(err, adapters.ErrTopicNotFound) {
		t.Fatalf("NewConsumer on a missing topic = %v, want adapters.ErrTopicNotFound", err)
	}
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "errs"})
	for _, m := range []adapters.Message{
		{Topic: topic, Partition: 2},                                    // out of range
		{Topic: "bbtest-missing-" + adaptertest.Suffix(), Partition: 0}, // no such topic
	} {
		if err := adaptertest.SendErr(t, p, &m); err == nil {
			t.Errorf("Send(%+v) succeeded, want an error", m)
		}
	}
	res := adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: -1, Key: []byte("k")})
	if res.Partition < 0 || res.Partition > 1 || res.Offset < 0 {
		t.Fatalf("keyed send with Partition -1 = %+v", res)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	cfg := Config{}.Default()
	cfg.Addrs = []string{"127.0.0.1:1"} // nothing listens on port 1
	cfg.Password = "hunter2"
	_, err := New(t.Context(), cfg)
	if !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("New against a closed port = %v, want ErrUnavailable", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("hunter2")) {
		t.Fatalf("password leaked in %v", err)
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	info, err := r.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Server == "unknown" || info.Client == "" || info.Endpoint != "redis://"+redisAddr {
		t.Fatalf("Info = %+v", info)
	}
	if v := goredis.Version(); !bytes.Contains([]byte(info.Client), []byte(v)) {
		t.Fatalf("Info.Client %q lacks go-redis version %s", info.Client, v)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	adaptertest.RequireService(t, "redis", redisAddr)
	adaptertest.Run(t, func(t *testing.T) adapters.System { return newRedis(t) })
}

// TestLagFallbackAfterXDEL: a deleted entry past the group's position makes
// Redis report lag as nil; Lag falls back to an upper bound that is exact
// here (nothing delivered yet) and returns to 0 once consumed.
func TestLagFallbackAfterXDEL(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}})
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "xdel"})
	var mid adapters.SendResult
	for i := range 10 {
		res := adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("x")})
		if i == 5 {
			mid = res
		}
	}
	key := r.layout.stream(topic, 0)
	if err := r.admin.XDel(t.Context(), key, OffsetToID(mid.Offset)).Err(); err != nil {
		t.Fatal(err)
	}
	groups := r.admin.XInfoGroups(t.Context(), key).Val()
	t.Logf("XINFO GROUPS after XDEL: %+v", groups)
	lag, err := r.Lag(t.Context(), topic, "s")
	if err != nil || lag[0] != 9 {
		t.Fatalf("Lag after XDEL = %v, %v; want 9", lag, err)
	}
	rec := &adaptertest.Recorder{}
	adaptertest.NewConsumer(t, r, adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle))
	adaptertest.WaitFor(t, 10*time.Second, "lag 0", func() bool {
		lag, err := r.Lag(t.Context(), topic, "s")
		return err == nil && lag[0] == 0
	})
	if rec.Len() != 9 {
		t.Fatalf("consumed %d entries, want 9", rec.Len())
	}
}

// BenchmarkSend measures pipelined XADD throughput of one producer with the
// default in-flight bound and 100-byte values.
func BenchmarkSend(b *testing.B) {
	sys := newRedis(b)
	topic := newTopic(b, sys, adapters.TopicSpec{Partitions: 4})
	adaptertest.BenchSend(b, adaptertest.NewProducer(b, sys, adapters.ProducerConfig{ID: "bench"}), topic, 4)
}

// TestSendAfterDeleteTopic: a producer that cached a topic's metadata gets an
// error for sends after DeleteTopic instead of re-creating the stream.
func TestSendAfterDeleteTopic(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1}) // no subscriptions: streams made by createStreams
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "deleted"})
	adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("x")})
	if err := r.DeleteTopic(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	err := adaptertest.SendErr(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("y")})
	if !errors.Is(err, adapters.ErrTopicNotFound) {
		t.Fatalf("send after DeleteTopic = %v, want adapters.ErrTopicNotFound", err)
	}
	if n := r.admin.Exists(t.Context(), r.layout.stream(topic, 0)).Val(); n != 0 {
		t.Fatal("send after DeleteTopic re-created the stream")
	}
}

// TestACLCredentials creates a Redis ACL user, connects with it, and checks
// that a wrong password is an authentication error (not "unavailable") that
// does not echo the password.
func TestACLCredentials(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	user, pw := "bbtest-"+adaptertest.Suffix(), "pw-"+adaptertest.Suffix()
	if err := r.admin.Do(t.Context(), "ACL", "SETUSER", user, "on", ">"+pw, "~bb:*", "&*", "+@all").Err(); err != nil {
		t.Skipf("cannot create an ACL user on the test server: %v", err)
	}
	t.Cleanup(func() { r.admin.Do(context.Background(), "ACL", "DELUSER", user) })
	cfg := r.cfg
	cfg.Username, cfg.Password = user, pw
	authed, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New as ACL user: %v", err)
	}
	t.Cleanup(func() { _ = authed.Close() })
	topic := newTopic(t, authed, adapters.TopicSpec{Partitions: 1})
	p := adaptertest.NewProducer(t, authed, adapters.ProducerConfig{ID: "acl"})
	adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("x")})

	cfg.Password = "wrong-" + pw
	_, err = New(t.Context(), cfg)
	if err == nil || errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("New with a wrong password = %v, want an authentication error", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte(pw)) {
		t.Fatalf("password leaked in %v", err)
	}
}

// TestCommitAutoNoAck: CommitAuto reads with NOACK, so nothing is ever
// pending and lag drops to 0 without XACK.
func TestCommitAutoNoAck(t *testing.T) {
	t.Parallel()
	r := newRedis(t)
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1, Subscriptions: []string{"s"}})
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "auto", Acks: adapters.AcksLeader})
	for range 5 {
		adaptertest.SendSync(t, p, &adapters.Message{Topic: topic, Partition: 0, Value: []byte("x")})
	}
	rec := &adaptertest.Recorder{}
	cfg := adaptertest.ConsumerConfig(topic, "s", 1, rec.Handle)
	cfg.Commit = adapters.CommitAuto
	adaptertest.NewConsumer(t, r, cfg)
	adaptertest.WaitFor(t, 10*time.Second, "5 deliveries", func() bool { return rec.Len() == 5 })
	if n := r.admin.XPending(t.Context(), r.layout.stream(topic, 0), "s").Val().Count; n != 0 {
		t.Fatalf("%d entries pending with CommitAuto (NOACK)", n)
	}
	if lag, err := r.Lag(t.Context(), topic, "s"); err != nil || lag[0] != 0 {
		t.Fatalf("Lag = %v, %v; want 0", lag, err)
	}
}
