// Package suite runs workloads against systems: it opens each system from
// the registry ([systems]) inside the fault environment its workloads'
// chaos schedules need (proxies, a broker process it owns), runs every
// workload with a [runner.Runner], records and checks histories, writes
// result, verdict and report files, and evaluates the conformance gate.
// The brokerbench command is flags and a live display around [Run]; any
// Go program, or a go test in another repository, can run the same gate:
//
//	out, err := suite.Run(ctx, suite.Config{Workloads: ws, Systems: []string{"refbroker"}, Out: dir, Gate: true})
//	if err != nil || out.Failed() { ... }
//
// The main types are [Config] (what to run and where to write) and
// [Outcome] (results, gate checks, the summary printer). [Search] runs one
// saturation search with any probe runner: this machine's runner, or the
// merged shards of a distributed run, whose shards follow it through
// [ShardSearch].
package suite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/chaos"
	"github.com/brokerbench/brokerbench/gate"
	"github.com/brokerbench/brokerbench/reports"
	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/suite/systems"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// ErrUsage is wrapped by errors in what the caller asked for (unknown
// system, invalid runner option, invalid BROKERBENCH_* setting, process
// faults on a system the suite cannot own): fix the input and run again.
var ErrUsage = errors.New("invalid input")

// usageError marks err as a usage error ([ErrUsage]) without changing its
// text, so that a command line can prefix it with the flag at fault.
type usageError struct{ err error }

func (e usageError) Error() string        { return e.err.Error() }
func (e usageError) Unwrap() error        { return e.err }
func (e usageError) Is(target error) bool { return target == ErrUsage }

func usage(err error) error { return usageError{err} }

func usagef(format string, args ...any) error { return usage(fmt.Errorf(format, args...)) }

// Config says what [Run] runs and where it writes. The zero value of every
// field but Workloads is usable.
type Config struct {
	// Workloads are run in order on each system; sweeps are expanded.
	Workloads []workloads.Workload
	// Systems are registry names ([systems.Names]), run one after the
	// other. Default ["refbroker"].
	Systems []string
	// Out is the results folder. Default brokerbench-results/<timestamp>.
	Out string
	// Runner are options for every run (interval, durations, progress);
	// Run adds Logger(Logger) before them, and History, Injectors and
	// Tool after.
	Runner []runner.Option
	// History records and checks every run's history; runs with
	// history: true or faults always do.
	History bool
	// Report draws the PDF/PNG/HTML report into <Out>/report at the end.
	Report bool
	// JUnit, when set, is the file the gate's checks are written to as
	// JUnit XML.
	JUnit string
	// Gate makes a failing threshold or checker, or a degraded run, fail
	// the outcome ([Outcome.Failed]) and adds the gate lines to the
	// summary.
	Gate bool
	// AllowDegraded lets degraded runs pass the gate (failed and
	// interrupted runs never do).
	AllowDegraded bool
	// Repeat runs each (workload, system) this many times, interleaved
	// across systems (see [Run]); 0 means 1. With more than one, results
	// carry the mean and 95 % confidence interval of their figures.
	Repeat int
	// Getenv resolves BROKERBENCH_* settings. Default os.Getenv.
	Getenv func(string) string
	// Logger receives the suite's progress and errors. Default discards.
	Logger *slog.Logger
	// BrokerLogger is an embedded broker's own logger. Default discards.
	BrokerLogger *slog.Logger
	// OnStart and OnFinish, when set, are called around every run, from
	// the goroutine that called Run (for a progress display).
	OnStart  func(w workloads.Workload, system string)
	OnFinish func(r *results.Result)
	// ToolVersion and Revision name the brokerbench build in results and
	// reports, e.g. "0.1.0-dev" and a VCS revision ("" when unknown).
	ToolVersion, Revision string
	// SelfExec says the program calls [systems.ServeRefbroker] first thing
	// in main, so refbroker can run as a subprocess re-executing it
	// ([systems.OpenOptions.SelfExec]). Without it refbroker runs as a
	// subprocess only when a refbroker binary is found.
	SelfExec bool
	// Shard says the runs are shards of distributed runs
	// (docs/distributed.md): their histories hold only part of each run,
	// so they are not checked here but once merged.
	Shard bool
	// ShardSearch makes a shard's maxRate searches follow the
	// coordinator's (shardsearch.go); nil runs them here.
	ShardSearch ShardSearch
	// ShardRepeat, with Repeat > 1, is the runner option that makes the
	// runs of repetition k (from 1) sharded runs of their own, with their
	// own run id, so that each repetition has its own topics and its
	// shards' results merge apart from the other repetitions' (package
	// distributed). Nil keeps Runner's options for every repetition.
	ShardRepeat func(k int) runner.Option
	// Search overrides the maxRate searches' repetitions, probe lengths
	// and budget (search.go).
	Search SearchOptions

	_ struct{} // forces keyed literals so fields can be added
}

// Outcome is what a [Run] produced.
type Outcome struct {
	// Out is the results folder.
	Out string
	// Results has one result per (workload run, system, repetition), in
	// run order.
	Results []*results.Result
	// Checks are the gate's checks: thresholds, history verdicts, and a
	// failed "connect" check per system that could not be opened.
	Checks []gate.Check
	// Report describes the drawn report; nil when none was drawn.
	Report *reports.Summary
	// SystemFailed is set when a system could not be opened or a run
	// could not complete.
	SystemFailed bool
	// Interrupted is set when the context ended (Ctrl-C) before every run
	// was done: the last result is interrupted and later runs did not
	// start.
	Interrupted bool
	gate        bool
}

// Failed reports whether the outcome fails: a system or a run failed or
// was interrupted, or, with Config.Gate, a check did not pass (which
// includes degraded runs unless Config.AllowDegraded).
func (o *Outcome) Failed() bool {
	if o.SystemFailed || o.Interrupted || (o.gate && !o.GatePassed()) {
		return true
	}
	return slices.ContainsFunc(o.Results, func(r *results.Result) bool {
		return r.Status == results.StatusFailed || r.Status == results.StatusInterrupted
	})
}

// GatePassed reports whether every check passed.
func (o *Outcome) GatePassed() bool {
	return !slices.ContainsFunc(o.Checks, func(c gate.Check) bool { return !c.OK() })
}

func (c *Config) defaults() {
	if len(c.Systems) == 0 {
		c.Systems = []string{"refbroker"}
	}
	if c.Out == "" {
		c.Out = filepath.Join("brokerbench-results", time.Now().Format("20060102-150405"))
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Search = c.Search.Repeated(c.Repeat)
	if c.BrokerLogger == nil {
		c.BrokerLogger = slog.New(slog.DiscardHandler)
	}
}

// validate checks the systems and runner options before anything starts.
func (c *Config) validate(opts []runner.Option) error {
	if c.Repeat < 0 {
		return usagef("repeat %d: want 1 or more repetitions", c.Repeat)
	}
	for _, s := range c.Systems {
		if _, ok := systems.Lookup(s); !ok {
			return usagef("system %q: unknown system; choose from %s", s, strings.Join(systems.Names(), ", "))
		}
	}
	// Options are checked once here; each system gets its own Runner, with
	// the fault injectors of its environment.
	if _, err := runner.New(opts...); err != nil {
		return usage(err)
	}
	return c.Search.validate()
}

// Run runs every workload of cfg on every system (cfg.Repeat times, in
// rounds over the systems: A B C, A B C, ...), writes a result file per
// run (and, for runs that record one, the history and its verdict) into
// cfg.Out, then the report and the JUnit file when asked. A run or system
// that fails is recorded in the Outcome, and the next one runs; Run
// returns an error only for bad input (wrapping [ErrUsage]), including an
// Out folder it cannot write (checked before anything runs), cancellation,
// or results it could not write.
//
// When ctx ends mid-run the current run stops within seconds and is
// written as interrupted with its partial figures, no further run starts,
// the JUnit file is still written but no report is drawn, and Run returns
// the Outcome (Interrupted set) with the context's error.
func Run(ctx context.Context, cfg Config) (*Outcome, error) {
	cfg.defaults()
	var runs []workloads.Workload
	for _, w := range cfg.Workloads {
		runs = append(runs, w.Expand()...)
	}
	hist := historyFiles{out: cfg.Out, all: cfg.History}
	// The runner logs where the suite does unless cfg.Runner says otherwise.
	opts := append([]runner.Option{runner.Logger(cfg.Logger)}, cfg.Runner...)
	opts = append(opts, runner.Tool("brokerbench "+cfg.ToolVersion, cfg.Revision))
	if err := cfg.validate(opts); err != nil {
		return nil, err
	}
	if err := checkWritable(cfg.Out); err != nil {
		return nil, usage(err)
	}
	out := &Outcome{Out: cfg.Out, gate: cfg.Gate}
	// Repetitions are rounds over every system (A B C A B C ...), so that
	// drift of the machine spreads over all systems alike.
rounds:
	for k := 1; k <= cfg.repetitions(); k++ {
		round := hist.round(k, cfg.repetitions())
		ropts := append(slices.Clip(opts), runner.History(round.opener(runs)))
		if cfg.ShardRepeat != nil && cfg.repetitions() > 1 {
			ropts = append(ropts, cfg.ShardRepeat(k))
		}
		checked := len(out.Checks)
		for _, name := range cfg.Systems {
			err := runSystem(ctx, &cfg, ropts, name, runs, round, out)
			switch {
			case err == nil:
			case errors.Is(err, ErrUsage):
				return out, err
			case ctx.Err() == nil:
				out.SystemFailed = true
				cfg.Logger.Error("system failed", "system", name, "err", err)
			}
			if ctx.Err() != nil {
				round.nameChecks(out.Checks[checked:])
				break rounds
			}
		}
		round.nameChecks(out.Checks[checked:])
	}
	// A shard's figures are its share of each run: the repetitions'
	// summary is of the merged runs (Collect).
	if !cfg.Shard {
		if err := summarizeRepeats(cfg.Out, out.Results); err != nil {
			return out, err
		}
	}
	return out, finish(ctx, &cfg, out)
}

// finish draws the report and writes the JUnit file of a finished
// outcome; an interrupted one is marked so and is an error.
func finish(ctx context.Context, cfg *Config, out *Outcome) error {
	// An interrupted suite draws no report: the user asked to stop.
	if cfg.Report && len(out.Results) > 0 && ctx.Err() == nil {
		sum, err := reports.Write(ctx, reports.Options{In: []string{cfg.Out}, ToolVersion: "brokerbench " + cfg.version()})
		if err != nil {
			// The results are written; a report can be drawn again later
			// with brokerbench report, so this does not fail the run.
			cfg.Logger.Error("writing the report failed; run brokerbench report --in "+cfg.Out+" to retry", "err", err)
		} else {
			out.Report = &sum
		}
	}
	if cfg.JUnit != "" {
		if err := writeJUnit(cfg.JUnit, out.Checks); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		out.Interrupted = true
		return fmt.Errorf("interrupted: %w", err)
	}
	return nil
}

func (c *Config) version() string {
	if c.Revision == "" {
		return c.ToolVersion
	}
	return c.ToolVersion + " (" + c.Revision + ")"
}

// runSystem opens one system and runs every workload on it in order,
// appending to out.
func runSystem(ctx context.Context, cfg *Config, opts []runner.Option, name string, runs []workloads.Workload, hist historyFiles, out *Outcome) error {
	env := newFaultEnv(runs)
	opts = append(slices.Clip(opts), runner.Injectors(func(string) chaos.Injectors { return env.injectors() }))
	rn, err := runner.New(opts...)
	if err != nil {
		return usage(err)
	}
	sys, closeSys, err := openSystem(ctx, cfg, name, env)
	if err != nil {
		out.Checks = append(out.Checks, gate.Check{Workload: "*", System: name, Name: "connect", Outcome: gate.Failed, Message: err.Error()})
		if errors.Is(err, systems.ErrSetup) || errors.Is(err, adapters.ErrInvalidConfig) {
			return usage(err)
		}
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer func() {
		if err := closeSys(); err != nil {
			cfg.Logger.Warn("closing system", "system", name, "err", err)
		}
	}()
	for _, w := range runs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(w.Systems) > 0 && !slices.Contains(w.Systems, name) {
			cfg.Logger.Info("workload is restricted to other systems", "workload", w.Name, "system", name, "systems", w.Systems)
			continue
		}
		if w.MaxRate != nil {
			if hist.rep != nil && hist.rep.Index > 1 {
				continue // searched in round 1, cfg.Search.Repeat times
			}
			if cfg.ShardSearch != nil {
				err = followSearch(ctx, cfg, opts, w, name, sys, hist, out)
			} else {
				err = searchOne(ctx, cfg, opts, w, name, sys, hist, out)
			}
		} else {
			err = runOne(ctx, cfg, rn, w, name, sys, hist, out)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// runOne runs w on sys, checks its history, writes its result and
// evaluates its thresholds. Only a result it cannot write is an error: a
// failed run is in the result.
func runOne(ctx context.Context, cfg *Config, rn *runner.Runner, w workloads.Workload, name string, sys adapters.System, hist historyFiles, out *Outcome) error {
	if cfg.OnStart != nil {
		cfg.OnStart(w, name)
	}
	res, err := rn.Run(ctx, w, sys)
	res.Meta.Mapping = systems.MappingFor(name, res.Meta.Capabilities)
	hist.annotate(res)
	if cfg.OnFinish != nil {
		cfg.OnFinish(res)
	}
	if err != nil {
		cfg.Logger.Error("run failed", "workload", w.Name, "system", name, "err", err)
	}
	if werr := record(ctx, cfg, w, res, hist, out); werr != nil {
		return werr
	}
	if res.Status == results.StatusInterrupted {
		return fmt.Errorf("interrupted: %w", err)
	}
	return nil
}

// record checks res's history, writes res and evaluates w's thresholds on
// it. Only a result it cannot write is an error.
func record(ctx context.Context, cfg *Config, w workloads.Workload, res *results.Result, hist historyFiles, out *Outcome) error {
	name := res.Driver
	// An interrupted run's history stays on disk for brokerbench check;
	// checking it now would keep the user waiting after Ctrl-C. A shard's
	// history is checked only once merged (Config.Shard).
	if res.Status != results.StatusInterrupted && !cfg.Shard {
		if cerr := hist.check(ctx, res); cerr != nil {
			cfg.Logger.Error("history check failed", "workload", w.Name, "system", name, "err", cerr)
			res.Verdict = &results.Verdict{Valid: "unknown", Inconclusive: []string{cerr.Error()}}
		}
	}
	path, werr := results.Write(hist.out, res)
	if werr != nil {
		return werr
	}
	cfg.Logger.Info("result written", "path", path, "status", res.Status)
	out.Results = append(out.Results, res)
	// Thresholds were validated when the workloads loaded.
	ts, _ := gate.ParseAll(w.Thresholds)
	out.Checks = append(out.Checks, gate.Evaluate(res, ts, gate.Policy{AllowDegraded: cfg.AllowDegraded})...)
	return nil
}

// checkWritable makes sure results can be written to dir before the first
// run, whose data would otherwise be lost: it creates dir and a file in it.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results folder %q cannot be created: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".brokerbench-write-check-*")
	if err != nil {
		return fmt.Errorf("results folder %q is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("results folder %q: remove the write check %s: %w", dir, name, err)
	}
	return nil
}

// openSystem connects to (or, for an embedded system, starts) a system,
// inside the fault environment env: through its proxies when runs have
// network faults, on a broker process the suite owns when they have
// process faults. The returned close function releases everything it
// started.
func openSystem(ctx context.Context, cfg *Config, name string, env *faultEnv) (adapters.System, func() error, error) {
	sys, _ := systems.Lookup(name) // validated by Run
	owned, err := env.open(ctx, sys)
	if err != nil {
		env.close()
		return nil, nil, err
	}
	s, closeSys, err := sys.Open(ctx, systems.OpenOptions{
		Getenv: cfg.Getenv, Dialer: env.roleDialer(), Logger: cfg.BrokerLogger,
		ToolVersion: cfg.ToolVersion, Owned: owned, SelfExec: cfg.SelfExec,
	})
	if err != nil {
		env.close()
		return nil, nil, err
	}
	return s, func() error { return errors.Join(closeSys(), env.close()) }, nil
}
