package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerbench/brokerbench/checkers"
	"github.com/brokerbench/brokerbench/checkers/history"
)

// errCheckFailed is returned after the summary is printed when a history is
// invalid or its verdict is unknown; both exit 1, since a gate must never
// treat "unknown" as a pass.
var errCheckFailed = errors.New("history check did not pass")

// checkFlags are the flags of `brokerbench check`.
type checkFlags struct {
	guarantee string
	model     string
	jsonPath  string
	out       string
	timeout   time.Duration
}

func newCheckCmd() *cobra.Command {
	f := &checkFlags{}
	cmd := &cobra.Command{
		Use:   "check HISTORY",
		Short: "Check a recorded history for lost, duplicated and reordered messages",
		Long: `Check a history (JSON Lines, docs/history.md; "-" reads standard input)
against its delivery guarantee and print a summary. The anomalies are listed
in docs/checkers.md.

The model (log or queue) and guarantee come from the history's header, else
the model is inferred from the operations and the guarantee is
at-least-once; --model and --guarantee override both.

--out DIR writes DIR/verdict.json and, for a partition whose sends are not
linearizable, porcupine's HTML visualization next to it; --json FILE writes
the verdict to FILE (visualizations go next to it unless --out is given).

Exit status: 0 valid, 1 anomalies that fail the guarantee or an
inconclusive check (unknown is not a pass), 2 unreadable input or bad flags.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runCheck(cmd, args[0], f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.guarantee, "guarantee", "", "at-least-once, exactly-once or at-most-once (default: header, else at-least-once)")
	fl.StringVar(&f.model, "model", "", "log or queue (default: header, else inferred)")
	fl.StringVar(&f.jsonPath, "json", "", "write the JSON verdict to this file")
	fl.StringVar(&f.out, "out", "", "directory for verdict.json and linearizability visualizations")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "time limit of the linearizability search; past it the verdict is unknown")
	return cmd
}

func (f *checkFlags) config() (checkers.Config, error) {
	cfg := checkers.Config{LinearizabilityTimeout: f.timeout}
	if f.timeout <= 0 {
		return cfg, usagef("--timeout %v: must be positive", f.timeout)
	}
	if f.guarantee != "" {
		g, err := history.ParseGuarantee(f.guarantee)
		if err != nil {
			return cfg, usagef("--guarantee: %v", err)
		}
		cfg.Guarantee = g
	}
	if f.model != "" {
		m, err := history.ParseModel(f.model)
		if err != nil {
			return cfg, usagef("--model: %v", err)
		}
		cfg.Model = m
	}
	switch {
	case f.out != "":
		cfg.VisualizationDir = f.out
	case f.jsonPath != "":
		cfg.VisualizationDir = filepath.Dir(f.jsonPath)
	}
	return cfg, nil
}

func runCheck(cmd *cobra.Command, path string, f *checkFlags) error {
	cfg, err := f.config()
	if err != nil {
		return err
	}
	if f.out != "" {
		if err := os.MkdirAll(f.out, 0o755); err != nil {
			return usagef("--out: %v", err)
		}
	}
	var in io.Reader = cmd.InOrStdin()
	name := "stdin"
	if path != "-" {
		file, err := os.Open(path)
		if err != nil {
			return usageError{fmt.Errorf("open history: %w", err)}
		}
		defer file.Close()
		in, name = file, path
	}
	v, err := checkers.Check(cmd.Context(), history.NewReader(in, name), cfg)
	if err != nil {
		if errors.Is(err, history.ErrMalformed) || errors.Is(err, checkers.ErrNoModel) {
			return usageError{err}
		}
		return fmt.Errorf("check %s: %w", name, err)
	}
	if err := writeVerdicts(v, f); err != nil {
		return err
	}
	if err := v.WriteSummary(cmd.OutOrStdout()); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if v.Valid != checkers.Valid {
		return errCheckFailed
	}
	return nil
}

func writeVerdicts(v *checkers.Verdict, f *checkFlags) error {
	var paths []string
	if f.out != "" {
		paths = append(paths, filepath.Join(f.out, "verdict.json"))
	}
	if f.jsonPath != "" {
		paths = append(paths, f.jsonPath)
	}
	for _, p := range paths {
		file, err := os.Create(p)
		if err != nil {
			return fmt.Errorf("write verdict: %w", err)
		}
		err = v.WriteJSON(file)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write verdict %s: %w", p, err)
		}
	}
	return nil
}
