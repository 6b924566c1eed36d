package reports

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot/plotter"
)

// Check is one conformance figure of a run: a named anomaly count.
type Check struct {
	// Name of the check ("lost", "duplicates", ...).
	Name string
	// Anomalies found; 0 is clean.
	Anomalies int64
}

// checks returns the conformance figures of a run: the delivery counts
// the runner takes from message headers, then, when the run recorded a
// history, the history checker's anomaly counts by catalog name
// (docs/checkers.md), sorted by name.
func checks(r *Run) []Check {
	cs := []Check{
		{"lost", r.Counts.Lost},
		{"duplicates", r.Counts.Duplicates},
		{"out of order", r.Counts.OutOfOrder},
		{"unexpected", r.Counts.Unexpected},
		{"failed sends", r.Counts.Failed},
	}
	if r.Verdict == nil {
		return cs
	}
	names := make([]string, 0, len(r.Verdict.Anomalies))
	for n := range r.Verdict.Anomalies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cs = append(cs, Check{Name: "history: " + n, Anomalies: int64(r.Verdict.Anomalies[n])})
	}
	return cs
}

// visualizations returns the run's porcupine visualizations (HTML files of
// nonlinearizable partitions), as paths joined to the run's folder.
func visualizations(r *Run) []string {
	if r.Verdict == nil {
		return nil
	}
	out := make([]string, 0, len(r.Verdict.Visualizations))
	for _, v := range r.Verdict.Visualizations {
		out = append(out, filepath.Join(r.Dir, v))
	}
	return out
}

// verdict is a short judgement of a run. The history checker's verdict
// comes first: "invalid" fails and "unknown" is never a pass. Then the
// delivery counts: duplicates alone do not fail a run (at-least-once
// delivery allows them) but are named, and reordering counts only where
// the system promised order (competing consumers and queues do not).
func verdict(r *Run) string {
	if r.Status != "ok" {
		return string(r.Status)
	}
	if v := r.Verdict; v != nil {
		switch v.Valid {
		case "invalid":
			return "INVALID: " + strings.Join(v.Failures, ",")
		case "valid":
		default:
			return "UNKNOWN (history check inconclusive)"
		}
	}
	switch {
	case r.Counts.Lost > 0 || r.Counts.OrderPromised && r.Counts.OutOfOrder > 0 || r.Counts.Unexpected > 0:
		return "ANOMALIES"
	case !r.Counts.Drained:
		return "NOT DRAINED"
	case r.Counts.Duplicates > 0:
		return "ok (dups)"
	}
	return "ok"
}

// passed reports whether a verdict needs no attention.
func passed(v string) bool { return v == "ok" || v == "ok (dups)" }

// verdictNote describes a run's history check for table notes; "" when
// the run recorded no history.
func verdictNote(r *Run) string {
	v := r.Verdict
	if v == nil {
		return ""
	}
	s := fmt.Sprintf("%s: history check (%s model, %s): %s", r.Label, v.Model, v.Guarantee, v.Valid)
	if len(v.Failures) > 0 {
		s += "; failing: " + strings.Join(v.Failures, ", ")
	}
	if len(v.Inconclusive) > 0 {
		s += "; inconclusive: " + strings.Join(v.Inconclusive, "; ")
	}
	if v.VerdictFile != "" {
		s += "; details in " + v.VerdictFile
	}
	return ascii(s)
}

// conformanceChart: anomaly counts per check, one bar per system.
func conformanceChart(sec *Section, pal palette) (*Chart, error) {
	runs := make([]*Run, 0, len(sec.Runs))
	for _, r := range sec.Runs {
		if r.ok() {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return nil, nil
	}
	c := &Chart{ID: "conformance", Title: sectionTitle(sec, "conformance, anomaly counts per check")}
	p := newPlot(c.Title, "check", "anomalies (count)")
	var names, cats []string
	for _, r := range runs {
		for _, ch := range checks(r) {
			if !slices.Contains(cats, ch.Name) {
				cats = append(cats, ch.Name)
			}
		}
	}
	var vals []plotter.Values
	var idx []int
	var total int64
	for i, r := range runs {
		v := make(plotter.Values, len(cats))
		for _, ch := range checks(r) {
			v[slices.Index(cats, ch.Name)] = float64(ch.Anomalies)
			total += ch.Anomalies
		}
		names = append(names, fmt.Sprintf("%s: %s", r.legend(), verdict(r)))
		vals = append(vals, v)
		idx = append(idx, i)
	}
	if err := barGroups(p, names, vals, idx, pal, seriesLabels(runs)); err != nil {
		return nil, err
	}
	p.NominalX(cats...)
	p.Y.Min = 0
	if total == 0 {
		// An empty chart would look broken; say why it is empty.
		p.Title.Text += " - none found"
		p.Y.Max = 1
	}
	roomForLegend(p, len(runs))
	c.plot = p
	return c, nil
}
