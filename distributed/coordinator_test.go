package distributed

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// startWorkers serves n workers over HTTP and returns them and their URLs.
func startWorkers(t *testing.T, n int) ([]*Worker, []string) {
	t.Helper()
	var ws []*Worker
	var urls []string
	for i := range n {
		w := NewWorker(t.Context(), workloads.Segment{Index: i, Count: n})
		srv := httptest.NewServer(w.Handler())
		t.Cleanup(srv.Close)
		ws, urls = append(ws, w), append(urls, srv.URL)
	}
	return ws, urls
}

// shardScript is what a shard's runner does at the barrier: the points in
// order, each with the status it reports while waiting.
func shardScript(ctx context.Context, w *Worker, status func(point string) runner.ShardStatus) (time.Time, error) {
	var start time.Time
	for _, p := range []string{runner.PointCreated, runner.PointReady, runner.PointDrained, runner.PointClosed} {
		at, err := w.Wait(ctx, p, func() runner.ShardStatus { return status(p) })
		if err != nil {
			return start, err
		}
		if p == runner.PointReady {
			start = at
		}
	}
	return start, nil
}

// TestCoordinatorReleasesTogether: every shard gets the same start
// instant, released only once the shards together cover every partition
// and their backlogs sum to zero, and the coordinator collects every
// shard's results.
func TestCoordinatorReleasesTogether(t *testing.T) {
	ws, urls := startWorkers(t, 3)
	starts := make([]time.Time, 3)
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			// Shard i saw the probe of partition i only, and its backlog
			// is +1 for shard 0, -1 for shard 1: they sum to zero.
			probes := make([]bool, 3)
			probes[i] = true
			backlog := []int64{1, -1, 0}[i]
			start, err := shardScript(t.Context(), w, func(string) runner.ShardStatus {
				return runner.ShardStatus{Probes: map[string][]bool{"s": probes}, Consumers: 1, Backlog: backlog}
			})
			starts[i] = start
			w.Finish([]*results.Result{{Workload: "w", Shard: &results.Shard{Index: i, Count: 3}}}, err)
		})
	}
	c := &Coordinator{Workers: urls, StartDelay: 50 * time.Millisecond}
	rs, err := c.Drive(t.Context())
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("collected %d results, want 3", len(rs))
	}
	for i, s := range starts {
		if s.IsZero() || !s.Equal(starts[0]) {
			t.Errorf("shard %d start %v, shard 0 %v: want one instant", i, s, starts[0])
		}
	}
}

// TestCoordinatorWaitsForCoverage: a partition no shard has read keeps
// every shard waiting at ready.
func TestCoordinatorWaitsForCoverage(t *testing.T) {
	ws, urls := startWorkers(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	for _, w := range ws {
		go func() {
			_, _ = w.Wait(ctx, runner.PointReady, func() runner.ShardStatus {
				return runner.ShardStatus{Probes: map[string][]bool{"s": {true, false}}, Consumers: 1}
			})
		}()
	}
	_, err := (&Coordinator{Workers: urls}).Drive(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drive = %v, want it still waiting at the deadline", err)
	}
}

// TestCoordinatorFailsRunWithShardReason: one shard's failure aborts the
// others' waits and fails the run naming the shard and its reason.
func TestCoordinatorFailsRunWithShardReason(t *testing.T) {
	ws, urls := startWorkers(t, 3)
	errs := make(chan error, 2)
	for _, w := range ws[1:] {
		go func() {
			_, err := w.Wait(t.Context(), runner.PointCreated, func() runner.ShardStatus { return runner.ShardStatus{} })
			errs <- err
		}()
	}
	ws[0].Fail("smoke on redis: create topic: connection refused")
	_, err := (&Coordinator{Workers: urls}).Drive(t.Context())
	var se *ShardError
	if !errors.As(err, &se) || se.Shard != "0/3" || !strings.Contains(se.Reason, "connection refused") {
		t.Fatalf("Drive = %v, want shard 0/3 failed with its reason", err)
	}
	for range 2 {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), "aborted by the coordinator: shard 0/3 failed") {
			t.Errorf("a waiting shard got %v, want the abort with the reason", err)
		}
	}
	for _, w := range ws[1:] {
		if context.Cause(w.Context()) == nil {
			t.Error("an aborted worker's context was not cancelled")
		}
	}
}

// TestWorkerOrphaned: a worker whose coordinator stopped polling gives up
// waiting with an error that says so.
func TestWorkerOrphaned(t *testing.T) {
	w := NewWorker(t.Context(), workloads.Segment{Index: 0, Count: 2})
	w.Orphaned = 200 * time.Millisecond
	_, err := w.Wait(t.Context(), runner.PointCreated, func() runner.ShardStatus { return runner.ShardStatus{} })
	if err == nil || !strings.Contains(err.Error(), "no coordinator has polled this worker") {
		t.Fatalf("Wait = %v, want the orphaned error", err)
	}
}

// TestWorkerReleaseCrossesDeadline: a release of a wait that ended on the
// shard's own deadline (the drain timeout) is accepted, even once the
// shard waits at its next point, and does not release that one.
func TestWorkerReleaseCrossesDeadline(t *testing.T) {
	ws, urls := startWorkers(t, 1)
	w := ws[0]
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	status := func() runner.ShardStatus { return runner.ShardStatus{} }
	if _, err := w.Wait(ctx, runner.PointDrained, status); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	closed := make(chan error, 1)
	go func() {
		_, err := w.Wait(t.Context(), runner.PointClosed, status)
		closed <- err
	}()
	c := &Coordinator{Workers: urls}
	c.defaults()
	waitFor(t, func() bool {
		st, err := c.status(t.Context(), urls[0])
		return err == nil && st.Point == runner.PointClosed
	})
	if err := c.release(t.Context(), 1, time.Now()); err != nil {
		t.Fatalf("release of the wait that timed out: %v", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("the late release of drained released closed (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := c.release(t.Context(), 2, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// TestCoordinatorBacklogGoal: the backlog goals of a backlog workload are
// checked on the shards' summed backlog, as one machine checks its own,
// and release every shard at one instant; a sum that stops improving for
// the goal's stall time fails the run.
func TestCoordinatorBacklogGoal(t *testing.T) {
	tests := []struct {
		name      string
		point     string
		goal      runner.BacklogGoal
		backlogs  []int64
		wantError string // "" = released
	}{
		{"built on the sum", runner.PointBacklogBuilt, runner.BacklogGoal{Phase: "build", Messages: 100, Stall: time.Minute}, []int64{40, 30, 30}, ""},
		{"drained on the sum", runner.PointBacklogDrained, runner.BacklogGoal{Phase: "drain", Messages: 10, Stall: time.Minute}, []int64{40, -30, 0}, ""},
		// Shard 0 reports its poison (5) minus the system's count (12),
		// the others their poison: every one of the 12 is dead-lettered.
		{"dead letters counted", runner.PointDeadLettered, runner.BacklogGoal{Phase: "drain", Stall: time.Minute}, []int64{5 - 12, 4, 3}, ""},
		{"build stalls", runner.PointBacklogBuilt, runner.BacklogGoal{Phase: "build", Messages: 100, Stall: 300 * time.Millisecond}, []int64{40, 30, 29},
			"backlog build made no progress for 300ms (--drain-timeout): 99 messages in the backlog (summed over 3 shards)"},
		{"drain stalls", runner.PointBacklogDrained, runner.BacklogGoal{Phase: "drain", Messages: 10, Stall: 300 * time.Millisecond}, []int64{40, -29, 0},
			"backlog drain made no progress for 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws, urls := startWorkers(t, len(tt.backlogs))
			ats := make([]time.Time, len(ws))
			errs := make([]error, len(ws))
			var wg sync.WaitGroup
			for i, w := range ws {
				wg.Go(func() {
					goal := tt.goal
					ats[i], errs[i] = w.Wait(t.Context(), tt.point, func() runner.ShardStatus {
						return runner.ShardStatus{Backlog: tt.backlogs[i], Goal: &goal}
					})
					if errs[i] == nil {
						w.Finish([]*results.Result{{Workload: "w", Shard: &results.Shard{Index: i, Count: len(ws)}}}, nil)
					}
				})
			}
			_, err := (&Coordinator{Workers: urls}).Drive(t.Context())
			wg.Wait()
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("Drive = %v, want %q", err, tt.wantError)
				}
				for i, e := range errs {
					if e == nil {
						t.Errorf("shard %d was released from a stalled backlog", i)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, at := range ats {
				if errs[i] != nil || at.IsZero() || !at.Equal(ats[0]) {
					t.Errorf("shard %d released at %v (%v), shard 0 at %v: want one instant", i, at, errs[i], ats[0])
				}
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
