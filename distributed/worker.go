// Package distributed runs one workload as n shards in separate worker
// processes and merges their results exactly (docs/distributed.md).
//
// Each worker runs `brokerbench run --shard i/n` and serves a small HTTP
// API; a coordinator drives the workers through the runner's rendezvous
// points (runner.Barrier), as k6's starter drives its runners, and merges
// the shards' results into one ordinary result file with [Merge].
package distributed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/suite"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// WorkerStatus is what GET /status returns.
type WorkerStatus struct {
	Shard string `json:"shard"`
	// Seq counts the rendezvous points reached so far; Point is the one
	// the worker waits at ("" when not waiting).
	Seq   int    `json:"seq"`
	Point string `json:"point,omitempty"`
	// Live is the shard's view while it waits.
	Live runner.ShardStatus `json:"live"`
	// Search is the search a worker waiting at PointProbe is in.
	Search *suite.SearchPoint `json:"search,omitempty"`
	// Done: the worker finished all its runs; Error says why it failed
	// ("" when it did not).
	Done  bool   `json:"done"`
	Error string `json:"error,omitempty"`
}

// Worker is one shard's side of the rendezvous: a runner.Barrier whose
// waits the coordinator releases over HTTP, and the shard's side of the
// coordinator's saturation searches (suite.ShardSearch, [Worker.Searches]).
//
// API: GET /status (WorkerStatus), POST /release?seq=N&at=UNIXNANO (release
// the wait N, with the start instant at PointReady), POST
// /abort?reason=... (fail the wait: another shard failed), GET /result (the
// shard's results, once done), POST /shutdown. At PointProbe: GET
// /probe?seq=N (the shard's result of the search's previous probe, null
// before the first) and POST /step?seq=N with a suite.ProbeStep as the body
// (release the wait N with the search's next step).
type Worker struct {
	// Orphaned is how long a wait goes on without the coordinator polling
	// /status before it fails, so a worker whose coordinator died does not
	// wait forever; default 5m (the coordinator polls every 50ms).
	Orphaned time.Duration

	seg    workloads.Segment
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	polled   time.Time // the coordinator's last GET /status, or creation
	seq      int
	point    string
	live     func() runner.ShardStatus
	search   *suite.SearchPoint // at PointProbe
	probe    *results.Result    // at PointProbe: the previous probe's
	release  chan released      // the current wait's; nil when not waiting
	gone     int                // the last wait that ended on the shard's own deadline (0: none)
	aborted  string
	done     bool
	failed   string
	results  []*results.Result
	shutdown chan struct{}
}

// NewWorker returns the barrier of shard seg. Its [Worker.Context],
// derived from ctx, ends when the coordinator aborts the run.
func NewWorker(ctx context.Context, seg workloads.Segment) *Worker {
	w := &Worker{Orphaned: 5 * time.Minute, seg: seg, shutdown: make(chan struct{}), polled: time.Now()}
	w.ctx, w.cancel = context.WithCancelCause(ctx)
	return w
}

// Context is the context the shard's runs should use: cancelled, with the
// reason as its cause, when the coordinator aborts the run (another shard
// failed), so a shard stops at once rather than at its next rendezvous.
func (w *Worker) Context() context.Context { return w.ctx }

// released is what the coordinator releases a wait with: the instant of
// a runner point, or the next step at PointProbe.
type released struct {
	at   time.Time
	step *suite.ProbeStep
}

// Wait implements runner.Barrier.
func (w *Worker) Wait(ctx context.Context, point string, status func() runner.ShardStatus) (time.Time, error) {
	r, err := w.wait(ctx, point, status, nil, nil)
	return r.at, err
}

// wait waits at point until the coordinator releases it; search and probe
// are what a wait at PointProbe shows the coordinator.
func (w *Worker) wait(ctx context.Context, point string, status func() runner.ShardStatus, search *suite.SearchPoint, probe *results.Result) (released, error) {
	w.mu.Lock()
	if w.aborted != "" {
		w.mu.Unlock()
		return released{}, errors.New(w.aborted)
	}
	w.seq++
	ch := make(chan released, 1)
	w.point, w.live, w.release, w.search, w.probe = point, status, ch, search, probe
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.point, w.live, w.release, w.search, w.probe = "", nil, nil, nil, nil
		w.mu.Unlock()
	}()
	tick := time.NewTicker(min(time.Second, w.Orphaned/4))
	defer tick.Stop()
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				w.mu.Lock()
				defer w.mu.Unlock()
				return released{}, errors.New(w.aborted)
			}
			return r, nil
		case <-ctx.Done():
			// A wait may end on the shard's own deadline (the drain
			// timeout at PointDrained) just as the coordinator releases
			// it: that release finds the shard gone on, as it meant.
			w.mu.Lock()
			w.gone = w.seq
			w.mu.Unlock()
			return released{}, ctx.Err()
		case <-tick.C:
			w.mu.Lock()
			since := time.Since(w.polled)
			w.mu.Unlock()
			if since > w.Orphaned {
				return released{}, fmt.Errorf("no coordinator has polled this worker for %s: start one (run --workers URL,...) or check that it can reach this worker", w.Orphaned.Round(time.Second))
			}
		}
	}
}

// Finish records the end of the worker's runs: its results and the first
// failure, which the coordinator reports.
func (w *Worker) Finish(res []*results.Result, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done, w.results = true, res
	if err != nil {
		w.failed = err.Error()
	}
}

// Fail reports a failure while runs continue (a failed run), so the
// coordinator can stop every shard at once.
func (w *Worker) Fail(reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == "" {
		w.failed = reason
	}
}

// Shutdown is closed when the coordinator has collected the results.
func (w *Worker) Shutdown() <-chan struct{} { return w.shutdown }

// Handler serves the worker API.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(rw http.ResponseWriter, _ *http.Request) {
		w.mu.Lock()
		w.polled = time.Now()
		st := WorkerStatus{Shard: w.seg.String(), Seq: w.seq, Point: w.point, Search: w.search, Done: w.done, Error: w.failed}
		live := w.live
		w.mu.Unlock()
		if live != nil {
			st.Live = live()
		}
		writeJSON(rw, st)
	})
	mux.HandleFunc("POST /release", func(rw http.ResponseWriter, r *http.Request) {
		seq, err1 := strconv.Atoi(r.URL.Query().Get("seq"))
		at, err2 := strconv.ParseInt(r.URL.Query().Get("at"), 10, 64)
		if err1 != nil || err2 != nil {
			http.Error(rw, "release: want seq and at (unix ns) query parameters", http.StatusBadRequest)
			return
		}
		w.releaseWait(rw, seq, released{at: time.Unix(0, at)})
	})
	mux.HandleFunc("GET /probe", func(rw http.ResponseWriter, r *http.Request) {
		seq, err := strconv.Atoi(r.URL.Query().Get("seq"))
		if err != nil {
			http.Error(rw, "probe: want a seq query parameter", http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.search == nil || w.seq != seq {
			http.Error(rw, fmt.Sprintf("probe %d: shard waits at %d %q", seq, w.seq, w.point), http.StatusConflict)
			return
		}
		writeJSON(rw, w.probe)
	})
	mux.HandleFunc("POST /step", func(rw http.ResponseWriter, r *http.Request) {
		seq, err1 := strconv.Atoi(r.URL.Query().Get("seq"))
		var step suite.ProbeStep
		err2 := json.NewDecoder(io.LimitReader(r.Body, 1<<24)).Decode(&step)
		if err1 != nil || err2 != nil {
			http.Error(rw, fmt.Sprintf("step: want a seq query parameter and a step as the body: %v", errors.Join(err1, err2)), http.StatusBadRequest)
			return
		}
		w.releaseWait(rw, seq, released{at: time.Now(), step: &step})
	})
	mux.HandleFunc("POST /abort", func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.aborted == "" {
			w.aborted = "aborted by the coordinator: " + r.URL.Query().Get("reason")
			if w.release != nil {
				close(w.release)
				w.release = nil
			}
			// An aborted run's results are not collected: the worker
			// may exit as soon as its runs have torn down.
			close(w.shutdown)
			w.cancel(errors.New(w.aborted))
		}
	})
	mux.HandleFunc("GET /result", func(rw http.ResponseWriter, _ *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.done {
			http.Error(rw, "not done", http.StatusConflict)
			return
		}
		writeJSON(rw, w.results)
	})
	mux.HandleFunc("POST /shutdown", func(http.ResponseWriter, *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.aborted == "" {
			select {
			case <-w.shutdown:
			default:
				close(w.shutdown)
			}
		}
	})
	return mux
}

// releaseWait releases the wait numbered seq with r.
func (w *Worker) releaseWait(rw http.ResponseWriter, seq int, r released) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq == w.gone {
		// The wait ended on the shard's own deadline, which the release
		// crossed; the shard may wait at its next point already.
		return
	}
	if w.release == nil || w.seq != seq || (r.step != nil) != (w.point == PointProbe) {
		http.Error(rw, fmt.Sprintf("release %d: shard waits at %d %q", seq, w.seq, w.point), http.StatusConflict)
		return
	}
	w.release <- r
	w.release = nil
}

// Serve serves the worker API on ln until ctx ends.
func (w *Worker) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve worker API on %s: %w", ln.Addr(), err)
	}
	return nil
}

func writeJSON(rw http.ResponseWriter, v any) {
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(v)
}
