package chaos

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
)

const redisServer = "/usr/bin/redis-server"

// newRedisServer starts a private redis-server on a free port with its own
// data directory and an fsync-always append-only file.
func newRedisServer(t *testing.T) *Process {
	t.Helper()
	bin := needBinary(t, redisServer)
	port, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if port == 6379 {
		t.Fatal("FreePort returned the shared Redis port")
	}
	return newProcess(t, redisFixture(bin, filepath.Join(t.TempDir(), "redis"), port))
}

func TestProcessRedisKillRestart(t *testing.T) {
	t.Parallel()
	p := newRedisServer(t)
	rc := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: 0, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rc.Close() })
	ctx := t.Context()
	if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: "s", ID: "1-1", Values: []string{"k", "acked"}}).Err(); err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	heal, err := p.Inject(ctx, FaultSpec{Kind: KindKill})
	if err != nil {
		t.Fatal(err)
	}
	if p.Running() || p.PID() != 0 {
		t.Error("process still running after kill")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still exists after Kill (kill -0: %v)", pid, err)
	}
	if err := rc.Ping(ctx).Err(); err == nil {
		t.Error("PING succeeded against a killed redis-server")
	}
	if err := heal(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if p.PID() == pid || !p.Running() {
		t.Errorf("after restart: pid %d (was %d), running %v", p.PID(), pid, p.Running())
	}
	// Same port and data dir: the client reconnects and finds the
	// acknowledged entry in the replayed append-only file.
	waitFor(t, 10*time.Second, "client reconnects after restart", func() error {
		msgs, err := rc.XRange(ctx, "s", "-", "+").Result()
		if err == nil && (len(msgs) != 1 || msgs[0].Values["k"] != "acked") {
			err = fmt.Errorf("stream after restart holds %v, want the one acknowledged entry", msgs)
		}
		return err
	})
}

func TestProcessRedisPause(t *testing.T) {
	t.Parallel()
	p := newRedisServer(t)
	rc := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: 0, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rc.Close() })
	if err := rc.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	heal, err := p.Inject(t.Context(), FaultSpec{Kind: KindPause, Duration: dur(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Paused() {
		t.Error("Paused() = false after pause")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	err = rc.Ping(ctx).Err()
	cancel()
	if err == nil {
		t.Fatal("PING answered by a paused redis-server")
	}
	// The request stalls rather than fails fast.
	if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Errorf("PING to a paused server: %v, want a timeout", err)
	}
	if err := heal(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "PING after SIGCONT", func() error { return rc.Ping(t.Context()).Err() })
}

// TestProcessRefbrokerKillRestart kills a refbroker subprocess with
// SIGKILL, restarts it on the same port and data directory, and checks that
// a client reconnects and reads back what was acknowledged before.
func TestProcessRefbrokerKillRestart(t *testing.T) {
	t.Parallel()
	bin := refbrokerBinary(t)
	port, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p := newProcess(t, refbrokerFixture(bin, filepath.Join(t.TempDir(), "data"), addr, "--fsync=always", "--log-level=warn"))

	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("chaos-kill"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	for i := range 10 {
		if err := prod.ProduceSync(t.Context(), &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	if err := p.Restart(t.Context()); err != nil { // kill -9 + start, same port and dir
		t.Fatalf("restart: %v", err)
	}
	// The producer's connection died with the broker; it reconnects.
	waitFor(t, 20*time.Second, "produce after restart", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		return prod.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr()
	})
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("chaos-kill"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cons.Close)
	var got []string
	waitFor(t, 20*time.Second, "consume all 11 records", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		if len(got) < 11 {
			return errors.New("have " + strconv.Itoa(len(got)))
		}
		return nil
	})
	if want := "0 1 2 3 4 5 6 7 8 9 after"; strings.Join(got, " ") != want {
		t.Errorf("records after kill -9 and restart: %q, want %q", strings.Join(got, " "), want)
	}
}

func TestProcessRefbrokerPause(t *testing.T) {
	t.Parallel()
	bin := refbrokerBinary(t)
	port, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p := newProcess(t, refbrokerFixture(bin, filepath.Join(t.TempDir(), "data"), addr, "--log-level=warn"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("chaos-pause"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	produce := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr()
	}
	if err := produce(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	// A produce to the paused broker stalls (kgo cannot fail a request that
	// may have been written, so the ack waits for the broker).
	acked := make(chan error, 1)
	cl.Produce(context.Background(), &kgo.Record{Value: []byte("stalled")}, func(_ *kgo.Record, err error) { acked <- err })
	select {
	case err := <-acked:
		t.Fatalf("produce to a paused broker completed: %v", err)
	case <-time.After(500 * time.Millisecond): // the stall being asserted
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-acked:
		if err != nil {
			t.Fatalf("stalled produce after SIGCONT: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("stalled produce not acknowledged 30s after SIGCONT")
	}
	if err := produce(10 * time.Second); err != nil {
		t.Fatalf("produce after SIGCONT: %v", err)
	}
}

func TestProcessErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewProcess(ProcessConfig{Addr: "127.0.0.1:1"}); err == nil {
		t.Error("NewProcess without Path: want an error")
	}
	if _, err := NewProcess(ProcessConfig{Path: "/bin/true"}); err == nil {
		t.Error("NewProcess without Addr: want an error")
	}
	// A process that exits at once is reported as not ready, with its output.
	p, err := NewProcess(ProcessConfig{Path: "/bin/sh", Args: []string{"-c", "echo boom >&2; exit 3"}, Addr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	err = p.Start(t.Context())
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Start of an exiting process: %v, want ErrNotReady quoting its output", err)
	}
	if err := p.Kill(t.Context()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Kill when not running: %v, want ErrNotRunning", err)
	}
	if err := p.Pause(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Pause when not running: %v, want ErrNotRunning", err)
	}
	if err := p.HealAll(t.Context()); err != nil {
		t.Errorf("HealAll of a never-started process: %v, want nil (nothing to heal)", err)
	}
	if _, err := p.Inject(t.Context(), FaultSpec{Kind: KindBlackhole}); !errors.Is(err, ErrNoInjector) {
		t.Errorf("blackhole on a Process: %v, want ErrNoInjector", err)
	}
	_ = p.Close()
	if err := p.Start(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
}

// TestProcessStopAndChildren checks that a kill reaches the whole process
// group (a shell and its child) and that Stop is graceful first.
func TestProcessStopAndChildren(t *testing.T) {
	t.Parallel()
	port, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	redisBin := needBinary(t, redisServer)
	// sh starts redis-server as a child (not exec), so killing only the
	// shell would orphan it.
	cfg := ProcessConfig{
		Name: "sh+redis", Path: "/bin/sh", Addr: addr, Ready: redisPing,
		Args: []string{"-c", redisBin + " --port " + strconv.Itoa(port) + ` --bind 127.0.0.1 --save "" --appendonly no; echo child exited`},
	}
	p := newProcess(t, cfg)
	heal, err := p.Inject(t.Context(), FaultSpec{Kind: KindKill})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if err := TCPReady(ctx, addr); err == nil {
		t.Fatal("the child redis-server survived a kill of its process group")
	}
	if err := heal(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Error("Running() after Stop")
	}
	if err := p.HealAll(t.Context()); err != nil || p.Running() {
		t.Errorf("HealAll restarted a stopped process (err %v)", err)
	}
}
