package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/brokerbench/brokerbench/distributed"
	"github.com/brokerbench/brokerbench/refbroker"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/suite"
	"github.com/brokerbench/brokerbench/suite/systems"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// distFlags are the flags of a distributed run (docs/distributed.md).
type distFlags struct {
	shard        string
	runID        string
	listen       string
	linger       time.Duration
	localWorkers int
	workers      []string
	shardResults string
}

// Environment of a worker on Kubernetes: the Indexed Job sets
// JOB_COMPLETION_INDEX; the manifests set the shard count and run id.
const (
	envJobIndex = "JOB_COMPLETION_INDEX"
	envShards   = "BROKERBENCH_SHARDS"
	envRunID    = "BROKERBENCH_RUN_ID"
)

func addDistFlags(fl *pflag.FlagSet, d *distFlags) {
	fl.StringVar(&d.shard, "shard", "", "run as shard i/n of a distributed run, serving the worker API on --listen (default from $"+envJobIndex+" and $"+envShards+")")
	fl.StringVar(&d.runID, "run-id", "", "a shard's run id, shared by all shards: it names the topics (default $"+envRunID+")")
	fl.StringVar(&d.listen, "listen", ":7070", "a shard's worker API address")
	fl.DurationVar(&d.linger, "linger", 10*time.Minute, "how long a finished shard waits for the coordinator to fetch its results")
	fl.IntVar(&d.localWorkers, "local-workers", 0, "run as N worker processes on this machine and merge their results")
	fl.StringSliceVar(&d.workers, "workers", nil, "coordinate running workers at these URLs (comma-separated, shard i first) and merge their results")
	fl.StringVar(&d.shardResults, "shard-results", "", "with --workers: the folder where shard i wrote its results as <folder>/i (a shared volume), so their histories are merged too")
}

// segment resolves the shard from --shard or the Indexed Job's
// environment; ok is false when this is not a shard.
func (d *distFlags) segment(getenv func(string) string) (workloads.Segment, bool, error) {
	s := d.shard
	if s == "" {
		idx := getenv(envJobIndex)
		if idx == "" {
			return workloads.Segment{}, false, nil
		}
		n := getenv(envShards)
		if n == "" {
			return workloads.Segment{}, false, usagef("$%s is %s but $%s (the shard count, the Job's completions) is not set", envJobIndex, idx, envShards)
		}
		s = idx + "/" + n
	}
	seg, err := workloads.ParseSegment(s)
	if err != nil {
		return seg, false, usagef("--shard: %v", err)
	}
	return seg, true, nil
}

// runDistributed runs `run` as a shard or a coordinator; handled is false
// for an ordinary run.
func runDistributed(cmd *cobra.Command, f *runFlags, live *runner.Resources) (handled bool, err error) {
	d := &f.dist
	seg, isShard, err := d.segment(os.Getenv)
	if err != nil {
		return true, err
	}
	modes := 0
	for _, on := range []bool{isShard, d.localWorkers != 0, len(d.workers) > 0} {
		if on {
			modes++
		}
	}
	switch {
	case modes == 0:
		return false, nil
	case modes > 1:
		return true, usagef("--shard, --local-workers and --workers exclude each other: a process is a shard or a coordinator")
	}
	selected, systemList, err := f.plan()
	if err != nil {
		return true, err
	}
	count := seg.Count
	if !isShard {
		count = max(d.localWorkers, len(d.workers))
	}
	if err := checkDistributable(f, selected, systemList, count); err != nil {
		return true, err
	}
	if isShard {
		return true, runShard(cmd, f, live, seg, selected, systemList)
	}
	return true, runCoordinator(cmd, f, selected, systemList)
}

// shardTakeover names the systems whose consumers of one subscription
// are coordinated within one process only and whose new partition owner
// takes the partition over from whoever reads it (docs/adapters/): with the
// consumers of several shards reading one partition, a consumer that
// starts on messages already there takes them from under the others. Sharded runs on them must start every consumer before any
// message is sent, and never restart one.
var shardTakeover = map[string]string{
	"nats":  "NATS JetStream consumers of one subscription are coordinated within one process only, and one that starts on unacknowledged messages re-creates the partition's durable under the other shards' consumers (docs/adapters/nats.md)",
	"redis": "Redis Streams consumers of one subscription are coordinated within one process only, and one that takes a partition claims every entry pending on it, the other shards' consumers' included, which then arrive twice (docs/adapters/redis.md)",
}

func checkDistributable(f *runFlags, selected []workloads.Workload, systemList []string, count int) error {
	if count < 1 {
		return usagef("--local-workers %d: want 1 or more workers", count)
	}
	for _, w := range selected {
		for _, e := range w.Expand() {
			if err := workloads.CheckShardable(e, count); err != nil {
				return usageError{err}
			}
			if e.Queue != nil || (e.BacklogBytes() == 0 && e.Churn == nil) {
				continue // competing consumers, or consumers started before any message
			}
			for _, sys := range systemList {
				if why, ok := shardTakeover[sys]; ok {
					return usagef("workload %s on %s cannot run sharded: its consumers start on a backlog or restart (consumerBacklogSizeGB, churn), and %s; run it on one worker", e.Name, sys, why)
				}
			}
		}
	}
	return nil
}

// runShard runs this process's shard of every selected workload, serving
// the worker API, and waits until the coordinator has its results.
func runShard(cmd *cobra.Command, f *runFlags, live *runner.Resources, seg workloads.Segment, selected []workloads.Workload, systemList []string) error {
	d := &f.dist
	runID := d.runID
	if runID == "" {
		runID = os.Getenv(envRunID)
	}
	if runID == "" {
		return usagef("--shard %s: --run-id (or $%s) is required: every shard of a run must use the same one", seg, envRunID)
	}
	if f.search != (searchFlags{}) {
		return usagef("--shard %s: --probe-duration, --probe-warmup, --search-budget and --search-repeat go to the coordinator, which runs the searches and gives every shard its probes", seg)
	}
	ln, err := net.Listen("tcp", d.listen)
	if err != nil {
		return usagef("--listen %s: %v", d.listen, err)
	}
	w := distributed.NewWorker(cmd.Context(), seg)
	ctx := w.Context()
	sctx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	go func() {
		if err := w.Serve(sctx, ln); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), err)
		}
	}()
	logger, brokerLogger, display := f.loggers(cmd)
	logger.Info("shard serving the worker API", "shard", seg.String(), "run", runID, "api", ln.Addr().String())
	opts, err := f.runnerOptions(logger, display, live)
	if err != nil {
		return err
	}
	opts = append(opts, runner.Shard(runner.ShardConfig{Segment: seg, RunID: runID, Barrier: w}))
	out, err := suite.Run(ctx, suite.Config{
		Workloads: selected, Systems: systemList, Out: f.out, Runner: opts,
		History: f.history, Getenv: f.getenv, Logger: logger, BrokerLogger: brokerLogger,
		OnStart: display.start, ShardSearch: w.Searches(runID),
		Repeat: f.repeat, ShardRepeat: w.RepeatShard(runID),
		OnFinish: func(r *results.Result) {
			display.finish(r)
			if r.Status == results.StatusFailed {
				rep := ""
				if k, n := r.Repetition(); n > 1 {
					rep = fmt.Sprintf(" (repetition %d of %d)", k, n)
				}
				w.Fail(fmt.Sprintf("%s on %s%s: %s", r.Workload, r.Driver, rep, r.Error))
			}
		},
		ToolVersion: toolVersion, Revision: revision(), SelfExec: true, Shard: true,
	})
	display.close()
	var rs []*results.Result
	if out != nil {
		rs = out.Results
	}
	w.Finish(rs, err)
	select {
	case <-w.Shutdown():
	case <-time.After(d.linger):
		logger.Warn("no coordinator fetched the results; they are in the results folder", "out", f.out)
	case <-cmd.Context().Done():
	}
	if cause := context.Cause(ctx); err != nil && cause != nil && cause != ctx.Err() {
		return cause // aborted: say why
	}
	if err != nil {
		return err
	}
	if out.Failed() {
		return errRunFailed
	}
	return nil
}

// runCoordinator runs the workers (local processes, or the running
// workers at --workers), merges their results into --out and records them
// as an ordinary run: history check, thresholds, gate, report, summary.
func runCoordinator(cmd *cobra.Command, f *runFlags, selected []workloads.Workload, systemList []string) error {
	d := &f.dist
	ctx := cmd.Context()
	logger, brokerLogger, _ := f.loggers(cmd)
	out := f.out
	if out == "" {
		out = filepath.Join("brokerbench-results", time.Now().Format("20060102-150405"))
	}
	limits, err := f.limits()
	if err != nil {
		return err
	}
	searchOpts, err := f.search.options()
	if err != nil {
		return err
	}
	// The coordinator runs the searches, repeated as on one machine.
	searches := &distributed.Searches{Workloads: selected, Options: searchOpts.Repeated(f.repeat), Limits: limits}
	var shards []distributed.Located
	if len(d.workers) > 0 {
		c := &distributed.Coordinator{Workers: d.workers, Logger: logger, Searches: searches}
		rs, err := c.Drive(ctx)
		if err != nil {
			return err
		}
		for _, r := range rs {
			l := distributed.Located{Result: r}
			if d.shardResults != "" && r.Shard != nil {
				l.Dir = filepath.Join(d.shardResults, strconv.Itoa(r.Shard.Index))
			}
			shards = append(shards, l)
		}
	} else {
		env, closeBroker, err := f.localEnv(ctx, systemList, brokerLogger)
		if err != nil {
			return err
		}
		defer closeBroker()
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this program to start workers: %w", err)
		}
		shardDir := filepath.Join(out, "shards")
		l := distributed.Local{
			N: d.localWorkers, Command: append([]string{exe}, f.workerArgs(systemList)...),
			Env: env, Dir: shardDir, RunID: newRunID(), Searches: searches, Logger: logger,
		}
		if _, err := l.Run(ctx); err != nil {
			return err
		}
		for i := range d.localWorkers {
			dir := filepath.Join(shardDir, fmt.Sprintf("shard-%d", i))
			rs, _, err := results.ReadDir(dir)
			if err != nil {
				return err
			}
			for _, r := range rs {
				shards = append(shards, distributed.Located{Result: r, Dir: dir})
			}
		}
	}
	merged, err := distributed.MergeAll(shards, out, limits)
	if err != nil {
		return err
	}
	if err := checkRepetitions(merged, f.repeat); err != nil {
		return err
	}
	return f.collect(cmd, selected, systemList, out, logger, merged)
}

// checkRepetitions checks that the shards ran the repetitions the
// coordinator was asked for: running workers (--workers) get --repeat from
// whoever started them, and a coordinator whose count differs would repeat
// its searches otherwise than the shards their runs. A search's result is
// one of one whatever the count (searches run in the first round).
func checkRepetitions(merged []*results.Result, repeat int) error {
	for _, r := range merged {
		if _, of := r.Repetition(); r.Capacity == nil && of != repeat {
			return usagef("--repeat %d: the shards ran %s on %s %d time(s); give the workers and the coordinator the same --repeat", repeat, r.Workload, r.Driver, of)
		}
	}
	return nil
}

// collect records merged results like a run's and prints the summary.
func (f *runFlags) collect(cmd *cobra.Command, selected []workloads.Workload, systemList []string, out string, logger *slog.Logger, merged []*results.Result) error {
	o, err := suite.Collect(cmd.Context(), suite.Config{
		Workloads: selected, Systems: systemList, Out: out,
		Report: !f.noReport, JUnit: f.junit, Gate: f.gate, AllowDegraded: f.allowDegr, Logger: logger,
		ToolVersion: toolVersion, Revision: revision(),
	}, merged)
	if err != nil {
		return err
	}
	if err := o.WriteSummary(cmd.OutOrStdout()); err != nil {
		return err
	}
	if o.Failed() {
		return errRunFailed
	}
	return nil
}

// localEnv is the environment of local workers: the endpoints given as
// flags, and, when refbroker is among the systems and none is named, the
// address of one refbroker this process starts for all of them.
func (f *runFlags) localEnv(ctx context.Context, systemList []string, brokerLogger *slog.Logger) ([]string, func(), error) {
	var env []string
	for key, v := range f.endpoints {
		if *v != "" {
			env = append(env, key+"="+*v)
		}
	}
	if !slices.Contains(systemList, "refbroker") || f.getenv(systems.RefbrokerAddrEnv) != "" {
		return env, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "brokerbench-refbroker-")
	if err != nil {
		return nil, nil, fmt.Errorf("create refbroker data dir: %w", err)
	}
	b, err := refbroker.Start(ctx, refbroker.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: brokerLogger})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("start refbroker for the workers: %w", err)
	}
	return append(env, systems.RefbrokerAddrEnv+"="+b.Addr()), func() {
		_ = b.Close()
		os.RemoveAll(dir)
	}, nil
}

// workerArgs are the `run` arguments every local worker gets.
func (f *runFlags) workerArgs(systemList []string) []string {
	args := []string{"run", "--workloads", f.file, "--no-progress", "--no-report",
		"--interval", f.interval.String(), "--drain-timeout", f.drainTimeout.String(), "--ready-timeout", f.readyTimeout.String()}
	for _, n := range f.names {
		args = append(args, "--workload", n)
	}
	for _, s := range systemList {
		args = append(args, "--system", s)
	}
	if f.repeat > 1 {
		args = append(args, "--repeat", strconv.Itoa(f.repeat))
	}
	if f.duration > 0 {
		args = append(args, "--duration", f.duration.String())
	}
	if f.warmup != "" {
		args = append(args, "--warmup", f.warmup)
	}
	if f.keepTopics {
		args = append(args, "--keep-topics")
	}
	if f.history {
		args = append(args, "--history")
	}
	if f.verbose {
		args = append(args, "--verbose")
	}
	return args
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
