package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestScheduleRealInjectors runs a short schedule against a real
// redis-server subprocess, a real Network in front of it and a recording
// ClientFaults, and checks the events, that every fault really happened,
// and that everything is healed when Run returns.
func TestScheduleRealInjectors(t *testing.T) {
	t.Parallel()
	bin := needBinary(t, redisServer)
	port, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p := newProcess(t, redisFixture(bin, filepath.Join(t.TempDir(), "redis"), port))
	n := newNetwork(t)
	addr, err := n.Proxy(t.Context(), RoleConsumers, p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rc.Close() })
	if err := rc.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	spec, err := ParseSpec([]byte(`
faults:
  - {kind: kill, start: 0s, duration: 200ms}
  - {kind: latency, target: consumers, latency: 20ms, start: 50ms, duration: 300ms}
  - {kind: pause, start: 1s, duration: 200ms}
  - {kind: crash, target: producers, start: 100ms}
recovery: 1s
`))
	if err != nil {
		t.Fatal(err)
	}
	rec := &crashRecorder{}
	pid := p.PID()
	var events []Event
	// Observed from inside the callback: the state of the world when each
	// start event is reported.
	var observed []string
	s, err := NewSchedule(spec, Injectors{Network: n, Processes: map[string]*Process{TargetBroker: p}, Clients: rec}, func(e Event) {
		events = append(events, e)
		if e.Kind == EventStart {
			observed = append(observed, fmt.Sprintf("%s: running=%v paused=%v", e.Fault, p.Running(), p.Paused()))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := s.Spec().Recovery.D(); got != time.Second {
		t.Errorf("Recovery = %v, want 1s", got)
	}
	if len(events) != 8 {
		t.Fatalf("got %d events, want 8 (a start and a stop per fault): %+v", len(events), events)
	}
	starts := map[int]time.Time{}
	for _, e := range events {
		if e.Err != nil {
			t.Errorf("event %+v carries an error", e)
		}
		switch e.Kind {
		case EventStart:
			starts[e.Index] = e.Time
		case EventStop:
			st, ok := starts[e.Index]
			if !ok || e.Time.Before(st) {
				t.Errorf("stop of faults[%d] without an earlier start", e.Index)
			}
			if want := spec.Faults[e.Index].Duration.D(); e.Time.Sub(st) < want {
				t.Errorf("faults[%d] window %v shorter than its duration %v", e.Index, e.Time.Sub(st), want)
			}
		}
	}
	wantObserved := []string{
		"kill broker: running=false paused=false",
		"latency consumers both 20ms: running=false paused=false",
		"crash 1 producers: running=false paused=false",
		"pause broker: running=true paused=true",
	}
	if !slices.Equal(observed, wantObserved) {
		t.Errorf("state at each start:\n%v\nwant\n%v", observed, wantObserved)
	}
	if !slices.Equal(rec.calls, []string{"producers 1"}) {
		t.Errorf("client crashes = %v", rec.calls)
	}
	// Everything is healed: a new broker process, running, not paused, and
	// a clean proxy that the client reaches again.
	if !p.Running() || p.Paused() || p.PID() == pid {
		t.Errorf("after Run: running=%v paused=%v pid=%d (was %d)", p.Running(), p.Paused(), p.PID(), pid)
	}
	for _, info := range n.Proxies() {
		if info.Down || len(info.Toxics) > 0 {
			t.Errorf("proxy not healed: %+v", info)
		}
	}
	waitFor(t, 10*time.Second, "client through the proxy after the schedule", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		return rc.Ping(ctx).Err()
	})
}
