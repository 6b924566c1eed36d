package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/adapters/nats"
	"github.com/brokerbench/brokerbench/adapters/rabbitmq"
	"github.com/brokerbench/brokerbench/adapters/redis"
	"github.com/brokerbench/brokerbench/checkers"
	"github.com/brokerbench/brokerbench/workloads"
)

// realSystems are the local servers the recorded-history tests run on,
// each connected by a function that skips (or, with CI=true, fails) when
// the server is not running.
var realSystems = []struct {
	name string
	addr string
	new  func(t *testing.T) adapters.System
}{
	{"redis", "127.0.0.1:6379", func(t *testing.T) adapters.System {
		cfg := redis.Config{}.Default()
		cfg.Addrs, cfg.Block = []string{"127.0.0.1:6379"}, 100*time.Millisecond
		return connect(t, func(ctx context.Context) (adapters.System, error) { return redis.New(ctx, cfg) })
	}},
	{"nats", "127.0.0.1:4222", func(t *testing.T) adapters.System {
		cfg := nats.Config{}.Default()
		cfg.Storage = "memory"
		return connect(t, func(ctx context.Context) (adapters.System, error) { return nats.New(ctx, cfg) })
	}},
	{"rabbitmq-classic", "127.0.0.1:5672", func(t *testing.T) adapters.System {
		cfg := rabbitmq.Config{}.Default()
		cfg.QueueType = rabbitmq.QueueClassic
		return connect(t, func(ctx context.Context) (adapters.System, error) { return rabbitmq.New(ctx, cfg) })
	}},
}

func connect(t *testing.T, open func(context.Context) (adapters.System, error)) adapters.System {
	t.Helper()
	sys, err := open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close() })
	return sys
}

// recordRun runs w on sys with a history and returns the checker's
// verdict and the history's text.
func recordRun(t *testing.T, w workloads.Workload, sys adapters.System) (*checkers.Verdict, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "h.jsonl")
	rn, err := New(Interval(250*time.Millisecond), Logger(quietLogger()), DrainTimeout(20*time.Second),
		History(func(string, string) (io.WriteCloser, error) { return os.Create(path) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rn.Run(t.Context(), w, sys); err != nil {
		t.Fatal(err)
	}
	v, err := checkers.CheckFile(t.Context(), path, checkers.Config{})
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return v, text
}

// TestRecordedCommitsAndAcks runs a small workload with a history on the
// local Redis, NATS and RabbitMQ servers: a partitioned (log) workload with
// two consumers records the adapters' commits with their group, and a
// queue workload records acks the adapters reported (OnAcked); the checker
// accepts both.
func TestRecordedCommitsAndAcks(t *testing.T) {
	for _, rs := range realSystems {
		t.Run(rs.name, func(t *testing.T) {
			t.Parallel()
			adaptertest.RequireService(t, rs.name, rs.addr)
			sys := rs.new(t)
			caps := sys.Capabilities()
			if caps.Offsets && caps.OrderedPartitions {
				t.Run("log", func(t *testing.T) {
					w := smallWorkload("commits")
					w.TestDuration = time.Second
					w.Delivery.CommitInterval = 200 * time.Millisecond
					v, text := recordRun(t, w, sys)
					checkValid(t, v, "log")
					if !bytes.Contains(text, []byte(`"f":"commit","group":"`)) {
						t.Errorf("no commit event with a group in the history")
					}
				})
			}
			if caps.Queue {
				t.Run("queue", func(t *testing.T) {
					w := smallWorkload("acks")
					w.TestDuration = time.Second
					w.Delivery.CommitInterval = 200 * time.Millisecond
					w.Queue = &workloads.Queue{}
					v, text := recordRun(t, w, sys)
					checkValid(t, v, "queue")
					if !bytes.Contains(text, []byte(`"f":"ack"`)) {
						t.Errorf("no ack event in the history")
					}
				})
			}
		})
	}
}

func checkValid(t *testing.T, v *checkers.Verdict, model string) {
	t.Helper()
	if v.Valid != checkers.Valid || v.Model != model {
		var buf bytes.Buffer
		v.WriteSummary(&buf)
		t.Errorf("verdict %s model %s (want valid %s):\n%s", v.Valid, v.Model, model, buf.String())
	}
}

// TestQueueAckAfterCrashNotRecorded: on Redis, queue consumers that crash
// between handling a delivery and the XACK that would acknowledge it (the
// commit interval is longer than their life) have acked nothing, and the
// history says so: such a delivery has no ack from the crashed process,
// and another process dequeues and acks it later. The checker accepts the
// run. Recording acks at the handler's return would have claimed acks the
// broker never got.
func TestQueueAckAfterCrashNotRecorded(t *testing.T) {
	adaptertest.RequireService(t, "redis", "127.0.0.1:6379")
	sys := realSystems[0].new(t)
	w := smallWorkload("ack-crash")
	w.TestDuration = 3 * time.Second
	w.ConsumerPerSubscription = 3
	w.Delivery.CommitInterval = 5 * time.Second // no XACK before a crash
	w.Delivery.SessionTimeout = time.Second     // the survivors claim soon
	w.Queue = &workloads.Queue{}
	w.Churn = &workloads.Churn{Interval: time.Second, Leave: "crash", Consumers: 1}
	v, text := recordRun(t, w, sys)
	checkValid(t, v, "queue")
	type op struct {
		proc int
		f    string
	}
	ops := make(map[int64][]op)
	crashed := make(map[int]bool)
	for line := range bytes.SplitSeq(text, []byte("\n")) {
		var e struct {
			Process any    `json:"process"`
			Type    string `json:"type"`
			F       string `json:"f"`
			Value   any    `json:"value"`
		}
		if len(line) == 0 || json.Unmarshal(line, &e) != nil {
			continue
		}
		p, ok := e.Process.(float64)
		if !ok {
			continue
		}
		if e.F == "dequeue" && e.Type == "info" {
			crashed[int(p)] = true
		}
		if val, ok := e.Value.(float64); ok && e.Type == "ok" && (e.F == "dequeue" || e.F == "ack") {
			ops[int64(val)] = append(ops[int64(val)], op{int(p), e.F})
		}
	}
	if len(crashed) == 0 {
		t.Fatal("no consumer crash in the history")
	}
	unacked := 0
	for _, seq := range ops {
		for i, o := range seq {
			if o.f != "dequeue" || !crashed[o.proc] {
				continue
			}
			ackedBy := -1
			for _, later := range seq[i+1:] {
				if later.f == "ack" {
					ackedBy = later.proc
					break
				}
			}
			if ackedBy != o.proc && ackedBy != -1 {
				unacked++
			}
		}
	}
	if unacked == 0 {
		t.Errorf("no delivery to a crashed consumer was left unacked by it and acked by another: acks are recorded before the broker has them")
	}
	t.Logf("%d crashed processes; %d deliveries they held were acked by another process", len(crashed), unacked)
}
