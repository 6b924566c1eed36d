package main

import (
	"log/slog"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerbench/brokerbench/distributed"
	"github.com/brokerbench/brokerbench/suite"
	"github.com/brokerbench/brokerbench/workloads"
)

func newMergeCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "merge DIR...",
		Short: "Merge the shard results of a distributed run into one result per (workload, system)",
		Long: `Merge the result folders of the shards of distributed runs (run --shard i/n)
into ordinary results in --out: histograms added exactly, counters summed,
losses and duplicates decided from all shards' sequence numbers together,
samples aligned on the common start, histories merged in time order
(docs/distributed.md). The merged results are then recorded as a run's:
histories checked, thresholds evaluated (from --workloads), summary and
report written, and with --gate a failing check exits 1.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, dirs []string) error {
			file, err := workloads.Load(f.file)
			if err != nil {
				return usageError{err}
			}
			selected, err := suite.Select(file, nil)
			if err != nil {
				return usageError{err}
			}
			out := f.out
			if out == "" {
				out = filepath.Join("brokerbench-results", "merged-"+time.Now().Format("20060102-150405"))
			}
			limits, err := f.limits()
			if err != nil {
				return err
			}
			merged, err := distributed.MergeDirs(dirs, out, limits)
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			return f.collect(cmd, selected, nil, out, logger, merged)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.file, "workloads", "workloads.yaml", "workloads file the shards ran (for thresholds)")
	fl.StringVar(&f.out, "out", "", "folder for the merged results (default brokerbench-results/merged-<timestamp>)")
	fl.BoolVar(&f.gate, "gate", false, "exit 1 when any merged run, threshold or checker fails")
	fl.StringVar(&f.junit, "junit", "", "write the gate's checks as JUnit XML to this file")
	fl.BoolVar(&f.noReport, "no-report", false, "do not write the report into <out>/report")
	fl.BoolVar(&f.allowDegr, "allow-degraded", false, "with --gate, let degraded runs pass")
	fl.StringVar(&f.errorLimit, "send-error-limit", "1%", "share of sends outside fault windows that may fail before the merged run fails")
	return cmd
}
