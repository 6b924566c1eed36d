package suite

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/brokerbench/brokerbench/gate"
	"github.com/brokerbench/brokerbench/results"
)

// WriteSummary prints where the results are, the summary table, the
// repetitions' confidence intervals and unsteady runs, the scenario
// figures, the report's files and, with Config.Gate, every check
// that did not pass and the gate's verdict line.
func (o *Outcome) WriteSummary(w io.Writer) error {
	fmt.Fprintf(w, "\nResults in %s\n\n", o.Out)
	if err := results.WriteTable(w, o.Results); err != nil {
		return err
	}
	if err := results.WriteRepeatTable(w, o.Results); err != nil {
		return err
	}
	if err := results.WriteScenarios(w, o.Results); err != nil {
		return err
	}
	if r := o.Report; r != nil {
		fmt.Fprintf(w, "\nReport: %s (%d pages), %s, %d charts\n", r.PDF, r.Pages, r.HTML, len(r.PNGs))
	}
	if o.Interrupted {
		fmt.Fprintf(w, "\nInterrupted: later runs did not start and no report was drawn; draw one with brokerbench report --in %s\n", o.Out)
	}
	if o.gate {
		writeGate(w, o.Checks)
	}
	return nil
}

// writeGate prints every check that did not pass and a verdict line.
func writeGate(w io.Writer, checks []gate.Check) {
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
		return
	}
	fmt.Fprintf(w, "gate: passed (%d checks)\n", len(checks))
}

func writeJUnit(path string, checks []gate.Check) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write JUnit file: %w", err)
	}
	if err := gate.WriteJUnit(f, checks); err != nil {
		f.Close()
		return fmt.Errorf("write JUnit file %s: %w", path, err)
	}
	return f.Close()
}
