package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/suite"
	"github.com/brokerbench/brokerbench/suite/systems"
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
	allowDegr    bool
	errorLimit   string // a percentage, e.g. "1%"
	history      bool
	noReport     bool
	junit        string
	noProgress   bool
	repeat       int
	verbose      bool
	endpoints    map[string]*string // env var -> flag value
	dist         distFlags
	search       searchFlags
}

func newRunCmd(live *runner.Resources) *cobra.Command {
	f := &runFlags{endpoints: map[string]*string{}}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run workloads against systems and write one result file per (workload, system)",
		Long: `Run workloads from a workloads file against one or more systems.

Without --workload every workload in the file runs; without --system the
embedded reference broker (refbroker) is used. Results are written as JSON to
--out (default brokerbench-results/<timestamp>), one file per (workload, system), and a
summary table is printed at the end. With --repeat N every (workload, system)
runs N times in rounds over the systems (A B C A B C ...), one file per
repetition, and the summary gives each figure's mean with its 95% confidence
interval (docs/measurement.md). A distributed run (--local-workers,
--workers) repeats alike, each repetition one sharded run (docs/distributed.md).

Connection settings come from BROKERBENCH_<SYSTEM>_<SETTING> environment
variables (see docs/adapters/); the flags below override the main endpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRun(cmd, f, live) },
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
	fl.BoolVar(&f.gate, "gate", false, "exit 1 when any run fails or is degraded, or a threshold or checker fails (a CI conformance gate)")
	fl.BoolVar(&f.allowDegr, "allow-degraded", false, "with --gate, let degraded runs pass (rate below offered, consumers behind, generator saturated)")
	fl.StringVar(&f.errorLimit, "send-error-limit", "1%", "share of sends outside fault windows that may fail before a run fails, e.g. 0.5%")
	fl.StringVar(&f.junit, "junit", "", "write the gate's checks as JUnit XML to this file")
	fl.BoolVar(&f.noReport, "no-report", false, "do not write the PDF/PNG/HTML report into <out>/report at the end")
	fl.BoolVar(&f.history, "history", false, "record every run's history (docs/history.md) next to its result and check it; workloads with history: true always do")
	fl.IntVar(&f.repeat, "repeat", 1, "run each (workload, system) N times, interleaved across systems, for confidence intervals (5 for comparisons)")
	fl.BoolVar(&f.noProgress, "no-progress", false, "print plain progress lines even on a terminal")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "debug logging")
	addDistFlags(fl, &f.dist)
	f.search.register(fl)
	for _, s := range systems.All() {
		for _, e := range s.Flags {
			f.endpoints[s.Env(e)] = fl.String(e.Name, "", e.Help+" (overrides $"+s.Env(e)+")")
		}
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

// plan loads the workloads file and resolves the selection, failing on
// any unknown name before anything starts.
func (f *runFlags) plan() ([]workloads.Workload, []string, error) {
	file, err := workloads.Load(f.file)
	if err != nil {
		return nil, nil, usageError{err}
	}
	selected, err := suite.Select(file, f.names)
	if err != nil {
		return nil, nil, usagef("--workload %v", err)
	}
	systemList := f.systems
	if len(systemList) == 0 {
		systemList = []string{"refbroker"}
	}
	for _, s := range systemList {
		if _, ok := systems.Lookup(s); !ok {
			return nil, nil, usagef("--system %q: unknown system; choose from %s", s, systemNames())
		}
	}
	if f.repeat < 1 {
		return nil, nil, usagef("--repeat %d: want 1 or more repetitions", f.repeat)
	}
	if f.interval < 100*time.Millisecond {
		return nil, nil, usagef("--interval %s: must be at least 100ms", f.interval)
	}
	return selected, systemList, nil
}

func systemNames() string { return strings.Join(systems.Names(), ", ") }

// loggers returns the run's logger, refbroker's logger and the progress
// display both write through.
func (f *runFlags) loggers(cmd *cobra.Command) (logger, brokerLogger *slog.Logger, display *display) {
	level, brokerLevel := slog.LevelInfo, slog.LevelWarn
	if f.verbose {
		level, brokerLevel = slog.LevelDebug, slog.LevelDebug
	}
	display = newDisplay(cmd.ErrOrStderr(), !f.noProgress)
	logger = slog.New(slog.NewTextHandler(display.logWriter(), &slog.HandlerOptions{Level: level}))
	brokerLogger = slog.New(slog.NewTextHandler(display.logWriter(), &slog.HandlerOptions{Level: brokerLevel})).With("component", "refbroker")
	return logger, brokerLogger, display
}

// limits are the status limits the flags set.
func (f *runFlags) limits() (results.Limits, error) {
	limits := results.DefaultLimits()
	var err error
	if limits.MaxSendErrorRate, err = parsePercent(f.errorLimit); err != nil {
		return limits, usagef("--send-error-limit %q: %v", f.errorLimit, err)
	}
	return limits, nil
}

// runnerOptions are the runner options the flags set.
func (f *runFlags) runnerOptions(logger *slog.Logger, display *display, live *runner.Resources) ([]runner.Option, error) {
	limits, err := f.limits()
	if err != nil {
		return nil, err
	}
	opts := []runner.Option{
		runner.Interval(f.interval), runner.Duration(f.duration),
		runner.DrainTimeout(f.drainTimeout), runner.ReadyTimeout(f.readyTimeout),
		runner.Logger(logger), runner.OnProgress(display.progress),
		runner.StatusLimits(limits), runner.Track(live),
	}
	if f.warmup != "" {
		d, err := time.ParseDuration(f.warmup)
		if err != nil || d < 0 {
			return nil, usagef("--warmup %q: want a duration such as 2s or 0s", f.warmup)
		}
		opts = append(opts, runner.Warmup(d))
	}
	if f.keepTopics {
		opts = append(opts, runner.KeepTopics())
	}
	return opts, nil
}

func runRun(cmd *cobra.Command, f *runFlags, live *runner.Resources) error {
	if handled, err := runDistributed(cmd, f, live); handled {
		return err
	}
	selected, systemList, err := f.plan()
	if err != nil {
		return err
	}
	logger, brokerLogger, display := f.loggers(cmd)
	opts, err := f.runnerOptions(logger, display, live)
	if err != nil {
		return err
	}
	search, err := f.search.options()
	if err != nil {
		return err
	}
	out, err := suite.Run(cmd.Context(), suite.Config{
		Workloads: selected, Systems: systemList, Out: f.out, Runner: opts,
		History: f.history, Report: !f.noReport, JUnit: f.junit, Gate: f.gate, AllowDegraded: f.allowDegr, Repeat: f.repeat,
		Getenv: f.getenv, Logger: logger, BrokerLogger: brokerLogger,
		OnStart: display.start, OnFinish: display.finish,
		ToolVersion: toolVersion, Revision: revision(), SelfExec: true, Search: search,
	})
	switch {
	case errors.Is(err, suite.ErrUsage):
		return usageError{err}
	case out != nil && out.Interrupted:
		display.close()
		if err := out.WriteSummary(cmd.OutOrStdout()); err != nil {
			return err
		}
		if len(live.Live()) > 0 {
			writeLeftBehind(cmd.ErrOrStderr(), live)
		}
		return errInterrupted
	case err != nil:
		return err
	}
	display.close()
	if err := out.WriteSummary(cmd.OutOrStdout()); err != nil {
		return err
	}
	if out.Failed() {
		return errRunFailed
	}
	return nil
}

// parsePercent reads "1%" or "0.5%" as a share (0.01, 0.005).
func parsePercent(s string) (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	if !ok {
		return 0, fmt.Errorf("want a percentage such as 1%% or 0.5%%")
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("want a percentage from 0%% to 100%%, such as 1%%")
	}
	return v / 100, nil
}
