package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerbench/brokerbench/chaos"
	"github.com/brokerbench/brokerbench/gate"
	"github.com/brokerbench/brokerbench/reports"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// runFlags are the flags of `brokerbench run`.
type runFlags struct {
	file         string
	names        []string
	systems      []string
	out          string
	duration     time.Duration
	warmup       string // a duration, or "" for the workloads' own
	interval     time.Duration
	drainTimeout time.Duration
	readyTimeout time.Duration
	keepTopics   bool
	gate         bool
	history      bool
	noReport     bool
	junit        string
	noProgress   bool
	verbose      bool
	endpoints    map[string]*string // env var -> flag value
}

func newRunCmd() *cobra.Command {
	f := &runFlags{endpoints: map[string]*string{}}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run workloads against systems and write one result file per (workload, system)",
		Long: `Run workloads from a workloads file against one or more systems.

Without --workload every workload in the file runs; without --system the
embedded reference broker (refbroker) is used. Results are written as JSON to
--out (default brokerbench-results/<timestamp>), one file per (workload, system), and a
summary table is printed at the end.

Connection settings come from BROKERBENCH_<SYSTEM>_<SETTING> environment
variables (see docs/adapters/); the flags below override the main endpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRun(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.file, "workloads", "workloads.yaml", "workloads file")
	fl.StringArrayVar(&f.names, "workload", nil, "workload to run (repeatable; default all)")
	fl.StringArrayVar(&f.systems, "system", nil, "system to run on: "+systemNames()+" (repeatable; default refbroker)")
	fl.StringVar(&f.out, "out", "", "results folder (default brokerbench-results/<timestamp>)")
	fl.DurationVar(&f.duration, "duration", 0, "override every workload's measured duration, e.g. 10s")
	fl.StringVar(&f.warmup, "warmup", "", "override every workload's warm-up, e.g. 2s (0s = none)")
	fl.DurationVar(&f.interval, "interval", time.Second, "sample interval")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "how long to wait after producers stop for consumers to catch up")
	fl.DurationVar(&f.readyTimeout, "ready-timeout", 60*time.Second, "how long to wait for consumers to read every partition before load starts")
	fl.BoolVar(&f.keepTopics, "keep-topics", false, "leave the run's topics, queues and streams in place")
	fl.BoolVar(&f.gate, "gate", false, "exit 1 when any run, threshold or checker fails (a CI conformance gate)")
	fl.StringVar(&f.junit, "junit", "", "write the gate's checks as JUnit XML to this file")
	fl.BoolVar(&f.noReport, "no-report", false, "do not write the PDF/PNG/HTML report into <out>/report at the end")
	fl.BoolVar(&f.history, "history", false, "record every run's history (docs/history.md) next to its result and check it; workloads with history: true always do")
	fl.BoolVar(&f.noProgress, "no-progress", false, "print plain progress lines even on a terminal")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "debug logging")
	for _, e := range []struct{ flag, env, help string }{
		{"kafka-brokers", "BROKERBENCH_KAFKA_BROKERS", "Kafka bootstrap brokers, comma-separated"},
		{"rabbitmq-url", "BROKERBENCH_RABBITMQ_URL", "RabbitMQ AMQP URL"},
		{"redis-addr", "BROKERBENCH_REDIS_ADDR", "Redis address host:port"},
		{"nats-url", "BROKERBENCH_NATS_URL", "NATS URL"},
	} {
		f.endpoints[e.env] = fl.String(e.flag, "", e.help+" (overrides $"+e.env+")")
	}
	return cmd
}

// getenv resolves a BROKERBENCH_* setting: a flag wins over the
// environment.
func (f *runFlags) getenv(key string) string {
	if v, ok := f.endpoints[key]; ok && *v != "" {
		return *v
	}
	return os.Getenv(key)
}

// plan loads the workloads file and resolves the selection into concrete
// runs, failing on any unknown name before anything starts.
func (f *runFlags) plan() ([]workloads.Workload, []string, error) {
	file, err := workloads.Load(f.file)
	if err != nil {
		return nil, nil, usageError{err}
	}
	selected := file.Workloads
	if len(f.names) > 0 {
		selected = nil
		for _, n := range f.names {
			w, ok := file.Find(n)
			if !ok {
				return nil, nil, usagef("--workload %q: no such workload in %s (have: %s)", n, f.file, strings.Join(file.Names(), ", "))
			}
			selected = append(selected, *w)
		}
	}
	var runs []workloads.Workload
	for _, w := range selected {
		runs = append(runs, w.Expand()...)
	}
	systems := f.systems
	if len(systems) == 0 {
		systems = []string{"refbroker"}
	}
	for _, s := range systems {
		if !knownSystem(s) {
			return nil, nil, usagef("--system %q: unknown system; choose from %s", s, systemNames())
		}
	}
	if f.interval < 100*time.Millisecond {
		return nil, nil, usagef("--interval %s: must be at least 100ms", f.interval)
	}
	return runs, systems, nil
}

func runRun(cmd *cobra.Command, f *runFlags) error {
	ctx := cmd.Context()
	runs, systems, err := f.plan()
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	display := newDisplay(cmd.ErrOrStderr(), !f.noProgress)
	logger := slog.New(slog.NewTextHandler(display.logWriter(), &slog.HandlerOptions{Level: level}))
	brokerLevel := slog.LevelWarn
	if f.verbose {
		brokerLevel = slog.LevelDebug
	}
	brokerLogger := slog.New(slog.NewTextHandler(display.logWriter(), &slog.HandlerOptions{Level: brokerLevel})).With("component", "refbroker")
	out := f.out
	if out == "" {
		out = filepath.Join("brokerbench-results", time.Now().Format("20060102-150405"))
	}
	opts := []runner.Option{
		runner.Interval(f.interval), runner.Duration(f.duration),
		runner.DrainTimeout(f.drainTimeout), runner.ReadyTimeout(f.readyTimeout),
		runner.Logger(logger), runner.OnProgress(display.progress),
		runner.Tool("brokerbench "+toolVersion, revision()),
	}
	if f.warmup != "" {
		d, err := time.ParseDuration(f.warmup)
		if err != nil || d < 0 {
			return usagef("--warmup %q: want a duration such as 2s or 0s", f.warmup)
		}
		opts = append(opts, runner.Warmup(d))
	}
	if f.keepTopics {
		opts = append(opts, runner.KeepTopics())
	}
	hist := historyFiles{out: out, all: f.history}
	opts = append(opts, runner.History(hist.opener(runs)))
	// Options are checked once here; each system gets its own Runner, with
	// the fault injectors of its environment.
	if _, err := runner.New(opts...); err != nil {
		return usageError{err}
	}
	var all []*results.Result
	var checks []gate.Check
	failed := false
	for _, sysName := range systems {
		rs, cs, err := runOnSystem(ctx, opts, sysName, runs, f, display, logger, brokerLogger, hist)
		all = append(all, rs...)
		checks = append(checks, cs...)
		if err != nil {
			if isUsage(err) || errors.Is(err, context.Canceled) {
				return err
			}
			failed = true
			logger.Error("system failed", "system", sysName, "err", err)
		}
	}
	display.close()
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "\nResults in %s\n\n", out)
	if err := results.WriteTable(w, all); err != nil {
		return err
	}
	if err := results.WriteScenarios(w, all); err != nil {
		return err
	}
	for _, r := range all {
		if r.Status == results.StatusFailed {
			failed = true
		}
	}
	if !f.noReport && len(all) > 0 {
		sum, err := reports.Write(ctx, reports.Options{In: []string{out}, ToolVersion: "brokerbench " + version()})
		if err != nil {
			// The results are written; a report can be drawn again later
			// with brokerbench report, so this does not fail the run.
			logger.Error("writing the report failed; run brokerbench report --in "+out+" to retry", "err", err)
		} else {
			fmt.Fprintf(w, "\nReport: %s (%d pages), %s, %d charts\n", sum.PDF, sum.Pages, sum.HTML, len(sum.PNGs))
		}
	}
	if f.junit != "" {
		if err := writeJUnit(f.junit, checks); err != nil {
			return err
		}
	}
	if f.gate {
		passed := printGate(w, checks)
		failed = failed || !passed
	}
	if failed {
		return errRunFailed
	}
	return nil
}

// printGate prints every check that did not pass and a verdict line, and
// reports whether the gate passed.
func printGate(w io.Writer, checks []gate.Check) bool {
	fmt.Fprintln(w)
	bad := 0
	for _, c := range checks {
		if !c.OK() {
			bad++
			fmt.Fprintf(w, "GATE %s: %s on %s: %s: %s\n", strings.ToUpper(string(c.Outcome)), c.Workload, c.System, c.Name, c.Message)
		}
	}
	if bad > 0 {
		fmt.Fprintf(w, "gate: FAILED (%d of %d checks)\n", bad, len(checks))
		return false
	}
	fmt.Fprintf(w, "gate: passed (%d checks)\n", len(checks))
	return true
}

func writeJUnit(path string, checks []gate.Check) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write --junit file: %w", err)
	}
	if err := gate.WriteJUnit(f, checks); err != nil {
		f.Close()
		return fmt.Errorf("write --junit file %s: %w", path, err)
	}
	return f.Close()
}

// runOnSystem opens one system and runs every workload on it in order.
func runOnSystem(ctx context.Context, opts []runner.Option, name string, runs []workloads.Workload, f *runFlags, d *display, logger, brokerLogger *slog.Logger, hist historyFiles) ([]*results.Result, []gate.Check, error) {
	env := newFaultEnv(runs)
	rn, err := runner.New(append(opts, runner.Injectors(func(string) chaos.Injectors { return env.injectors() }))...)
	if err != nil {
		return nil, nil, usageError{err}
	}
	sys, closeSys, err := openSystem(ctx, name, f.getenv, brokerLogger, env)
	if err != nil {
		return nil, []gate.Check{{Workload: "*", System: name, Name: "connect", Outcome: gate.Failed, Message: err.Error()}},
			fmt.Errorf("open %s: %w", name, err)
	}
	defer func() {
		if err := closeSys(); err != nil {
			logger.Warn("closing system", "system", name, "err", err)
		}
	}()
	var rs []*results.Result
	var checks []gate.Check
	for _, w := range runs {
		if ctx.Err() != nil {
			return rs, checks, ctx.Err()
		}
		if len(w.Systems) > 0 && !contains(w.Systems, name) {
			logger.Info("workload is restricted to other systems", "workload", w.Name, "system", name, "systems", w.Systems)
			continue
		}
		d.start(w, name)
		res, err := rn.Run(ctx, w, sys)
		d.finish(res)
		if cerr := hist.check(ctx, res); cerr != nil {
			logger.Error("history check failed", "workload", w.Name, "system", name, "err", cerr)
			res.Verdict = &results.Verdict{Valid: "unknown", Inconclusive: []string{cerr.Error()}}
		}
		path, werr := results.Write(hist.out, res)
		if werr != nil {
			return rs, checks, werr
		}
		logger.Info("result written", "path", path, "status", res.Status)
		rs = append(rs, res)
		if err != nil {
			logger.Error("run failed", "workload", w.Name, "system", name, "err", err)
		}
		// Thresholds were validated when the file loaded.
		ts, _ := gate.ParseAll(w.Thresholds)
		checks = append(checks, gate.Evaluate(res, ts)...)
	}
	return rs, checks, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
