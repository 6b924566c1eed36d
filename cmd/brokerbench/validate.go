package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/brokerbench/brokerbench/workloads"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a workloads file without running it (default workloads.yaml)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "workloads.yaml"
			if len(args) == 1 {
				path = args[0]
			}
			f, err := workloads.Load(path)
			if err != nil {
				return usageError{err}
			}
			out := cmd.OutOrStdout()
			runs := 0
			for _, w := range f.Workloads {
				runs += len(w.Expand())
				for _, warn := range w.Warnings {
					fmt.Fprintf(out, "warning: %s: workload %q: %s\n", path, w.Name, warn)
				}
			}
			fmt.Fprintf(out, "%s: %d workloads, %d runs: ok\n", path, len(f.Workloads), runs)
			return nil
		},
	}
}
