package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/brokerbench/brokerbench/capacity"
	"github.com/brokerbench/brokerbench/reports"
)

// defaultResultsRoot is where `brokerbench run` writes by default.
const defaultResultsRoot = "brokerbench-results"

// errNotFeasible is returned after a plan is printed when some system
// cannot sustain the target on what was measured.
var errNotFeasible = errors.New("no sound plan: the target is not reachable with the measured setup (see the reasons above)")

// planFlags are the planning inputs shared by `plan` and `report`.
type planFlags struct {
	consumers, messageSize, replication, fanOut int
	headroom, topKeyShare                       float64
	latency                                     string
	extrapolate                                 bool
}

// register adds the planning flags to fl; prefix is prepended to their
// help ("with --target-throughput: " in report).
func (f *planFlags) register(fl *pflag.FlagSet, prefix string) {
	fl.IntVar(&f.consumers, "consumers", 0, prefix+"consumers per group: every consumer needs a partition")
	fl.Float64Var(&f.headroom, "headroom", capacity.DefaultHeadroom, prefix+"share of the measured ceiling kept in reserve, in [0, 1)")
	fl.IntVar(&f.messageSize, "message-size", 0, prefix+"message size in bytes (default: as measured); searches more than 2x away are not used")
	fl.StringVar(&f.latency, "latency", "", prefix+"latency objective, e.g. p99<50ms or publish:p99<10ms (default: as measured); only searches at least as strict are used")
	fl.IntVar(&f.replication, "replication", 1, prefix+"replication factor")
	fl.IntVar(&f.fanOut, "fan-out", 1, prefix+"subscriptions reading every message")
	fl.Float64Var(&f.topKeyShare, "top-key-share", 0, prefix+"share of messages on the hottest key, in [0, 1) (default: estimated from hot-keys runs)")
	fl.BoolVar(&f.extrapolate, "extrapolate", false, prefix+"estimate nodes past the measured ceiling from a linear per-node model (the plan stays not feasible)")
}

// request builds a validated plan request; bad input is a usage error.
func (f planFlags) request(target string) (reports.PlanRequest, error) {
	t, err := reports.ParseThroughput(target)
	if err != nil {
		return reports.PlanRequest{}, usageError{fmt.Errorf("--target-throughput: %w", err)}
	}
	q := reports.PlanRequest{Target: t, Consumers: f.consumers, Headroom: f.headroom, MessageSize: f.messageSize,
		Replication: f.replication, FanOut: f.fanOut, TopKeyShare: f.topKeyShare, Extrapolate: f.extrapolate}
	if f.latency != "" {
		o, err := capacity.ParseObjective(f.latency)
		if err != nil {
			return q, usageError{fmt.Errorf("--latency: %w", err)}
		}
		q.Objective = &o
	}
	if err := q.Validate(); err != nil {
		return q, usageError{err}
	}
	return q, nil
}

func newPlanCmd() *cobra.Command {
	var (
		f       planFlags
		target  string
		results []string
		only    []string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Plan nodes, partitions and producers from capacity searches, without extrapolating silently",
		Long: `Plan capacity for a target throughput from capacity searches (workloads
with maxRate, e.g. capacity-partitions): the highest open-loop rate each
measured setup sustained under a latency objective.

For each system the plan picks the smallest measured setup whose found
rate (lower bound of its 95% interval, minus headroom) sustains the
target, with a partition for every consumer and room for the hot key,
and says what binds. A target above what was measured is "not reachable
with the measured setup": the plan gives the measured ceiling and the
USL's fitted X_max, and estimates nodes only with --extrapolate, from a
stated per-node model. The exit status is 1 unless every plan is
feasible. See docs/capacity.md.`,
		Example: `  brokerbench plan --target-throughput 20MB/s --consumers 4 --latency p99<50ms
  brokerbench plan --target-throughput 200000msg/s --replication 3 --extrapolate --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				return usagef("--target-throughput is required, e.g. --target-throughput 20MB/s")
			}
			q, err := f.request(target)
			if err != nil {
				return err
			}
			dirs, err := resultDirs(results)
			if err != nil {
				return err
			}
			p, err := reports.PlanFromDirs(cmd.Context(), dirs, q)
			if errors.Is(err, reports.ErrNoCapacity) || errors.Is(err, reports.ErrNoResults) {
				return usageError{err}
			}
			if err != nil {
				return fmt.Errorf("plan: %w", err)
			}
			if err := keepSystems(p, only); err != nil {
				return err
			}
			if asJSON {
				err = p.WriteJSON(cmd.OutOrStdout())
			} else {
				err = p.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if !p.Feasible() {
				return errNotFeasible
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&target, "target-throughput", "", "total throughput to plan for, e.g. 20MB/s, 400MiB/s, 200000msg/s (required)")
	f.register(fl, "")
	fl.StringArrayVar(&results, "results", nil, "results folder (repeatable; default the latest under brokerbench-results/)")
	fl.StringArrayVar(&only, "system", nil, "plan only for this system (repeatable; default every system with capacity searches)")
	fl.BoolVar(&asJSON, "json", false, "print the plans as a JSON array, one object per system")
	return cmd
}

// keepSystems drops the plans of systems not in only (all when empty).
func keepSystems(p *reports.Plan, only []string) error {
	if len(only) == 0 {
		return nil
	}
	var names []string
	for _, s := range p.Systems {
		names = append(names, s.System)
	}
	for _, o := range only {
		if !slices.Contains(names, o) {
			return usagef("--system %q: no capacity searches for it in the results (have: %s)", o, strings.Join(names, ", "))
		}
	}
	p.Systems = slices.DeleteFunc(p.Systems, func(s capacity.Plan) bool { return !slices.Contains(only, s.System) })
	return nil
}

// resultDirs returns the given folders, or the latest run folder under
// brokerbench-results/ when none is given.
func resultDirs(dirs []string) ([]string, error) {
	if len(dirs) > 0 {
		for _, d := range dirs {
			if st, err := os.Stat(d); err != nil || !st.IsDir() {
				return nil, usagef("results folder %s: not a readable folder", d)
			}
		}
		return dirs, nil
	}
	entries, err := os.ReadDir(defaultResultsRoot)
	if err != nil {
		return nil, usagef("no results folder given and %s/ is not readable: %v", defaultResultsRoot, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, usagef("no results folder given and %s/ is empty: run brokerbench run first", defaultResultsRoot)
	}
	// Run folders are named by timestamp (YYYYMMDD-HHMMSS): the greatest
	// name is the latest run.
	sort.Strings(names)
	return []string{filepath.Join(defaultResultsRoot, names[len(names)-1])}, nil
}
