package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/brokerbench/brokerbench/reports"
)

// defaultResultsRoot is where `brokerbench run` writes by default.
const defaultResultsRoot = "brokerbench-results"

// planFlags are the planning inputs shared by `plan` and `report`.
type planFlags struct {
	consumers   int
	headroom    float64
	messageSize int
}

// request builds a validated plan request; bad input is a usage error.
func (f planFlags) request(target string) (reports.PlanRequest, error) {
	t, err := reports.ParseThroughput(target)
	if err != nil {
		return reports.PlanRequest{}, usageError{fmt.Errorf("--target-throughput: %w", err)}
	}
	q := reports.PlanRequest{Target: t, Consumers: f.consumers, Headroom: f.headroom, MessageSize: f.messageSize}
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
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Recommend a partition count per system from throughput-per-partition results",
		Long: `Recommend a partition count for each system from measured per-partition
throughput (the throughput-per-partition workload):

  partitions = max(ceil(target / (per-partition throughput x (1 - headroom))), consumers)

using the lowest per-partition throughput the sweep measured. Warns when a
hot-keys run showed a skew that would overload one partition at the
target, and prints its reasoning. Targets accept B/s, KB/s, MB/s, GB/s
(10^n bytes), KiB/s, MiB/s, GiB/s, or msg/s (with --message-size to compare
in bytes).`,
		Example: `  brokerbench plan --target-throughput 500MB/s --consumers 12
  brokerbench plan --target-throughput 200000msg/s --message-size 512 --results brokerbench-results/20260101-120000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				return usagef("--target-throughput is required, e.g. --target-throughput 500MB/s")
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
			if errors.Is(err, reports.ErrNoSweep) || errors.Is(err, reports.ErrNoResults) {
				return usageError{err}
			}
			if err != nil {
				return fmt.Errorf("plan: %w", err)
			}
			return p.WriteText(cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&target, "target-throughput", "", "total throughput to plan for, e.g. 500MB/s, 400MiB/s, 200000msg/s (required)")
	fl.IntVar(&f.consumers, "consumers", 0, "consumers per group: the partition count never goes below it")
	fl.Float64Var(&f.headroom, "headroom", reports.DefaultHeadroom, "share of measured per-partition throughput kept in reserve, in [0, 1)")
	fl.IntVar(&f.messageSize, "message-size", 0, "message size in bytes for a msg/s target (default: compare msg/s as measured)")
	fl.StringArrayVar(&results, "results", nil, "results folder (repeatable; default the latest under brokerbench-results/)")
	return cmd
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
