package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/brokerbench/brokerbench/suite/systems"
	"github.com/brokerbench/brokerbench/workloads"
)

func newListCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the workloads of a workloads file and the systems brokerbench can drive",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := workloads.Load(file)
			if err != nil {
				return usageError{err}
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "WORKLOAD\tRUNS\tDESCRIPTION\n")
			for _, w := range f.Workloads {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", w.Name, len(w.Expand()), w.Description)
			}
			fmt.Fprintf(tw, "\nSYSTEM\tCONNECTION\tNOTES\n")
			for _, s := range systems.All() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.ConnectionHelp(), s.Notes)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&file, "workloads", "workloads.yaml", "workloads file")
	return cmd
}
