package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/brokerbench/brokerbench/reports"
)

// reportFlags are the flags of `brokerbench report`.
type reportFlags struct {
	in       []string
	out      string
	baseline string
	target   string
	plan     planFlags
}

func newReportCmd() *cobra.Command {
	f := &reportFlags{}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Draw PNG charts, a PDF report, index.html and summary.md from result files",
		Long: `Read result files and write a report: PNG charts per workload, one
multi-page PDF of all workloads (report.pdf), index.html showing the charts
and tables, and summary.md for CI comments.

Several --in folders are compared side by side (systems, versions, or two
runs "before vs after"). Every ratio comes with its 95% confidence interval
and a verdict ("~" when not significant) from the runs' repetitions (run
--repeat 5), and is written to comparison.json. The baseline is --baseline,
else the first --in folder and, within a folder, the first --system it ran.
With --target-throughput the report includes a capacity plan with its
reasoning (see brokerbench plan).`,
		Example: `  brokerbench report --in brokerbench-results/20260101-120000
  brokerbench report --in before/ --in after/ --out compare/
  brokerbench report --in results/ --baseline kafka`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReport(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.in, "in", nil, "results folder (repeatable; default the latest under brokerbench-results/)")
	fl.StringVar(&f.out, "out", "", "report folder (default <first --in>/report)")
	fl.StringVar(&f.baseline, "baseline", "", "what ratios are relative to: a result set (an --in folder's name), a system, or \"system [set]\" (default the first --in, then the first system run)")
	fl.StringVar(&f.target, "target-throughput", "", "add a capacity plan for this target, e.g. 500MB/s")
	f.plan.register(fl, "with --target-throughput: ")
	return cmd
}

func runReport(cmd *cobra.Command, f *reportFlags) error {
	in, err := resultDirs(f.in)
	if err != nil {
		return err
	}
	opts := reports.Options{In: in, Out: f.out, Baseline: f.baseline, ToolVersion: "brokerbench " + version()}
	if f.target != "" {
		q, err := f.plan.request(f.target)
		if err != nil {
			return err
		}
		opts.Plan = &q
	}
	sum, err := reports.Write(cmd.Context(), opts)
	if errors.Is(err, reports.ErrNoResults) || errors.Is(err, reports.ErrBadPlan) {
		return usageError{err}
	}
	if errors.Is(err, reports.ErrBadBaseline) {
		return usagef("--baseline: %v", err)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for _, s := range sum.Skipped {
		// Verdict files sit next to their results by design.
		if !strings.HasSuffix(s, ".verdict.json") {
			fmt.Fprintf(cmd.ErrOrStderr(), "skipped %s: not a result file\n", s)
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "report of %d results in %s: %s (%d pages), %s, %s, %s, %d PNG charts\n",
		sum.Results, sum.Out, sum.PDF, sum.Pages, sum.HTML, sum.Markdown, sum.Comparison, len(sum.PNGs))
	return nil
}
