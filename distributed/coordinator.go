package distributed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// Coordinator drives the workers of a distributed run through the
// runner's rendezvous points and collects their results: the simplest
// rendezvous that works on a laptop and on Kubernetes alike (plain HTTP
// polling, no membership protocol).
type Coordinator struct {
	// Workers are the workers' base URLs, shard i at index i.
	Workers []string
	// Client defaults to a client with a 10s timeout.
	Client *http.Client
	// Logger defaults to discarding.
	Logger *slog.Logger
	// StartDelay is how far after the release every shard starts its
	// producers, so that all have received the instant; default 500ms.
	StartDelay time.Duration
	// Unreachable is how long a worker that answered once may stop
	// answering before the run fails; default 15s. Startup is how long a
	// worker may take to answer the first time (pods are scheduled, images
	// pulled); default 5m.
	Unreachable, Startup time.Duration
	// Exited, when set, is polled with each worker's index and returns an
	// error once that worker's process has ended (local mode).
	Exited func(i int) error
	// Searches lets the coordinator run the shards' saturation searches
	// (maxRate workloads); nil fails a run that reaches one.
	Searches *Searches

	st     driveState
	probes int // probes run so far, which numbers the next (suite.ProbeStep.N)
}

// ShardError is a distributed run failed by one of its shards.
type ShardError struct {
	Shard  string
	Reason string
}

func (e *ShardError) Error() string { return "shard " + e.Shard + " failed: " + e.Reason }

const pollInterval = 50 * time.Millisecond

// Drive runs the rendezvous until every worker is done and returns all
// their results. A worker that fails, dies or stops answering fails the
// run: the others are aborted and the error names the shard and its
// reason. When the shards reach a saturation search, Drive runs it
// (search.go).
func (c *Coordinator) Drive(ctx context.Context) ([]*results.Result, error) {
	c.defaults()
	c.st = driveState{lastSeen: make([]time.Time, len(c.Workers)), began: time.Now()}
	for {
		sts, err := c.advance(ctx)
		if err != nil {
			return nil, err
		}
		if all(sts, func(st *WorkerStatus) bool { return st.Done }) {
			return c.collect(ctx)
		}
		if err := c.search(ctx, sts); err != nil {
			return nil, err
		}
	}
}

// driveState is what the rendezvous keeps from one poll to the next.
type driveState struct {
	lastSeen []time.Time
	began    time.Time
	released int // the last wait released
	prog     progress
}

// advance polls the workers and releases their rendezvous points until
// every worker is done or all wait at a PointProbe not yet released, and
// returns their statuses then.
func (c *Coordinator) advance(ctx context.Context) ([]*WorkerStatus, error) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		sts, err := c.poll(ctx)
		if err != nil {
			return nil, err
		}
		if all(sts, func(st *WorkerStatus) bool { return st.Done }) {
			return sts, nil
		}
		if seq, point, ok := sameWait(sts); ok && seq > c.st.released {
			if point == PointProbe {
				return sts, nil
			}
			at, ok, err := c.decide(point, sts, seq, &c.st.prog)
			if err != nil {
				return nil, c.failRun(ctx, err)
			}
			if ok {
				if err := c.release(ctx, seq, at); err != nil {
					return nil, err
				}
				c.st.released = seq
				c.Logger.Info("shards released", "point", point, "seq", seq)
			}
		} else if i, ok := doneWhileWaiting(sts); ok {
			return nil, c.fail(ctx, i, "finished while other shards wait at a rendezvous point (the shards ran different workloads)")
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			c.abortAll(context.WithoutCancel(ctx), "coordinator stopped: "+ctx.Err().Error())
			return nil, ctx.Err()
		}
	}
}

// poll reads every worker's status; a worker that failed, died or stopped
// answering fails the run.
func (c *Coordinator) poll(ctx context.Context) ([]*WorkerStatus, error) {
	sts := make([]*WorkerStatus, len(c.Workers))
	for i, u := range c.Workers {
		st, err := c.status(ctx, u)
		switch {
		case err == nil:
			sts[i], c.st.lastSeen[i] = st, time.Now()
		case c.Exited != nil && c.Exited(i) != nil:
			return nil, c.fail(ctx, i, c.Exited(i).Error())
		case c.st.lastSeen[i].IsZero() && time.Since(c.st.began) > c.Startup:
			return nil, c.fail(ctx, i, fmt.Sprintf("not answering %s after the start: %v", c.Startup, err))
		case !c.st.lastSeen[i].IsZero() && time.Since(c.st.lastSeen[i]) > c.Unreachable:
			return nil, c.fail(ctx, i, fmt.Sprintf("not answering for %s: %v", c.Unreachable, err))
		}
	}
	for i, st := range sts {
		if st != nil && st.Error != "" {
			return nil, c.fail(ctx, i, st.Error)
		}
		if st != nil && !st.Done && c.Exited != nil {
			if err := c.Exited(i); err != nil {
				return nil, c.fail(ctx, i, err.Error())
			}
		}
	}
	return sts, nil
}

func (c *Coordinator) defaults() {
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StartDelay == 0 {
		c.StartDelay = 500 * time.Millisecond
	}
	if c.Unreachable == 0 {
		c.Unreachable = 15 * time.Second
	}
	if c.Startup == 0 {
		c.Startup = 5 * time.Minute
	}
}

func all(sts []*WorkerStatus, f func(*WorkerStatus) bool) bool {
	for _, st := range sts {
		if st == nil || !f(st) {
			return false
		}
	}
	return true
}

// sameWait reports whether every worker waits at the same point.
func sameWait(sts []*WorkerStatus) (int, string, bool) {
	if !all(sts, func(st *WorkerStatus) bool { return st.Point != "" }) {
		return 0, "", false
	}
	for _, st := range sts[1:] {
		if st.Seq != sts[0].Seq || st.Point != sts[0].Point {
			return 0, "", false
		}
	}
	return sts[0].Seq, sts[0].Point, true
}

// doneWhileWaiting finds a finished worker while another waits: the
// waiting one would wait forever.
func doneWhileWaiting(sts []*WorkerStatus) (int, bool) {
	waiting := false
	for _, st := range sts {
		waiting = waiting || st != nil && st.Point != ""
	}
	for i, st := range sts {
		if waiting && st != nil && st.Done {
			return i, true
		}
	}
	return 0, false
}

// progress is the best summed backlog seen at one backlog rendezvous
// (seq) and when it was first seen.
type progress struct {
	seq   int
	best  int64
	since time.Time
}

// decide says whether the shards, all waiting at point (the seq-th), may
// go on, and with which instant; an error fails the run.
func (c *Coordinator) decide(point string, sts []*WorkerStatus, seq int, prog *progress) (time.Time, bool, error) {
	switch point {
	case runner.PointProduce:
		return time.Now().Add(c.StartDelay), true, nil
	case runner.PointBacklogBuilt, runner.PointBacklogDrained, runner.PointDeadLettered:
		return c.backlogGoal(point, sts, seq, prog)
	case runner.PointReady:
		at, ok := c.ready(sts)
		return at, ok, nil
	case runner.PointDrained:
		// The shards' backlogs sum to the run's: a shard's consumers may
		// have received what another's producers sent.
		var backlog int64
		for _, st := range sts {
			backlog += st.Live.Backlog
		}
		return time.Now(), backlog <= 0, nil
	default:
		return time.Now(), true, nil
	}
}

// backlogGoal checks the shards' backlog goal on their summed backlog,
// as one machine checks it on its own (runner.BacklogGoal), and fails the
// run when the sum has not improved for the goal's stall time. The
// release instant is the moment the goal was found met: the shards record
// it as the end of the backlog build, or of its drain.
func (c *Coordinator) backlogGoal(point string, sts []*WorkerStatus, seq int, prog *progress) (time.Time, bool, error) {
	g := sts[0].Live.Goal
	var backlog int64
	for i, st := range sts {
		if g == nil || st.Live.Goal == nil || *st.Live.Goal != *g {
			return time.Time{}, false, fmt.Errorf("at %s, shard %d/%d waits for backlog goal %+v, shard 0 for %+v: the shards run different workloads", point, i, len(sts), st.Live.Goal, g)
		}
		backlog += st.Live.Backlog
	}
	if g.Met(backlog) {
		return time.Now(), true, nil
	}
	if prog.seq != seq || g.Better(backlog, prog.best) {
		*prog = progress{seq: seq, best: backlog, since: time.Now()}
	}
	if time.Since(prog.since) > g.Stall {
		return time.Time{}, false, fmt.Errorf("%w (summed over %d shards)", g.StallError(backlog), len(sts))
	}
	return time.Time{}, false, nil
}

// ready says whether the shards' consumers are ready, and the start
// instant.
func (c *Coordinator) ready(sts []*WorkerStatus) (time.Time, bool) {
	// Every partition of every subscription must have delivered a
	// probe to some shard: the shards' consumers split them.
	cover := map[string][]bool{}
	for _, st := range sts {
		for sub, ps := range st.Live.Probes {
			if cover[sub] == nil {
				cover[sub] = make([]bool, len(ps))
			}
			for p, ok := range ps {
				if ok && p < len(cover[sub]) {
					cover[sub][p] = true
				}
			}
		}
	}
	for _, ps := range cover {
		if slices.Contains(ps, false) {
			return time.Time{}, false
		}
	}
	// Where every consumer can own a partition, every shard's
	// consumers must have been assigned one: the first consumer to
	// join may read every probe before the others have joined.
	for sub, ps := range cover {
		total := 0
		for _, st := range sts {
			total += st.Live.Consumers
		}
		if total > len(ps) {
			continue
		}
		for _, st := range sts {
			if st.Live.Consumers > 0 && !slices.Contains(st.Live.Probes[sub], true) {
				return time.Time{}, false
			}
		}
	}
	return time.Now().Add(c.StartDelay), true
}

func (c *Coordinator) status(ctx context.Context, base string) (*WorkerStatus, error) {
	var st WorkerStatus
	if err := c.call(ctx, http.MethodGet, base+"/status", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (c *Coordinator) release(ctx context.Context, seq int, at time.Time) error {
	for i, u := range c.Workers {
		q := url.Values{"seq": {fmt.Sprint(seq)}, "at": {fmt.Sprint(at.UnixNano())}}
		if err := c.call(ctx, http.MethodPost, u+"/release?"+q.Encode(), nil); err != nil {
			return c.fail(ctx, i, "release: "+err.Error())
		}
	}
	return nil
}

// fail aborts every worker and returns the run's error, naming shard i.
func (c *Coordinator) fail(ctx context.Context, i int, reason string) error {
	return c.failRun(ctx, &ShardError{Shard: fmt.Sprintf("%d/%d", i, len(c.Workers)), Reason: reason})
}

// failRun aborts every worker and returns err, the run's error.
func (c *Coordinator) failRun(ctx context.Context, err error) error {
	c.Logger.Error("run failed; aborting the shards", "reason", err)
	c.abortAll(context.WithoutCancel(ctx), err.Error())
	return err
}

func (c *Coordinator) abortAll(ctx context.Context, reason string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, u := range c.Workers {
		_ = c.call(ctx, http.MethodPost, u+"/abort?"+url.Values{"reason": {reason}}.Encode(), nil)
	}
}

func (c *Coordinator) collect(ctx context.Context) ([]*results.Result, error) {
	var all []*results.Result
	for i, u := range c.Workers {
		var rs []*results.Result
		if err := c.call(ctx, http.MethodGet, u+"/result", &rs); err != nil {
			return nil, &ShardError{Shard: fmt.Sprintf("%d/%d", i, len(c.Workers)), Reason: "fetch results: " + err.Error()}
		}
		all = append(all, rs...)
	}
	for _, u := range c.Workers {
		_ = c.call(ctx, http.MethodPost, u+"/shutdown", nil)
	}
	return all, nil
}

// call sends a request without a body to u and decodes the answer into
// into (nil: none expected).
func (c *Coordinator) call(ctx context.Context, method, u string, into any) error {
	return c.do(ctx, method, u, nil, into)
}

// do sends a request to u, with body as JSON when it is not nil, and
// decodes the answer into into (nil: none expected).
func (c *Coordinator) do(ctx context.Context, method, u string, body []byte, into any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(b)))
	}
	if into == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, u, err)
	}
	return nil
}
