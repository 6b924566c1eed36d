package reports

import (
	"fmt"
	"strconv"

	"github.com/brokerbench/brokerbench/results"
)

// table is a text table shared by the PDF, index.html and summary.md, so
// the three show the same figures.
type table struct {
	Title  string
	Header []string
	Rows   [][]string
	Notes  []string
}

var summaryHeader = []string{"system", "status", "pub msg/s", "pub MB/s", "cons msg/s",
	"pub p50 ms", "pub p99 ms", "pub p99.9 ms", "e2e p50 ms", "e2e p99 ms", "e2e p99.9 ms",
	"lost", "dup", "reorder", "verdict"}

// summaryRow is one series' row: throughput, corrected latency
// percentiles, delivery counts and the verdict. A single run shows its
// figures; repetitions show "mean ± half-width" (95 % confidence) over the
// ok ones, the share that was ok, and counts summed over all.
func summaryRow(reps []*Run) []string {
	r := reps[0]
	if len(reps) == 1 {
		if !r.ok() {
			return []string{r.Label, string(r.Status), ascii(r.Error), "", "", "", "", "", "", "", "", "", "", "", verdict(r)}
		}
		l := r.Latency
		return []string{r.Label, string(r.Status), fmtRate(r.D.PublishRate), ff(r.D.PublishMBps), fmtRate(r.D.ConsumeRate),
			ms(l.Publish.Count, l.Publish.P50), p99Cell(r, l.Publish.Count, l.Publish.P99), ms(l.Publish.Count, l.Publish.P999),
			ms(l.EndToEnd.Count, l.EndToEnd.P50), p99Cell(r, l.EndToEnd.Count, l.EndToEnd.P99), ms(l.EndToEnd.Count, l.EndToEnd.P999),
			itoa(r.Counts.Lost), itoa(r.Counts.Duplicates), itoa(r.Counts.OutOfOrder), verdict(r)}
	}
	ok := okRuns(reps)
	if len(ok) == 0 {
		return []string{r.Label, fmt.Sprintf("%s 0/%d", r.Status, len(reps)), ascii(r.Error), "", "", "", "", "", "", "", "", "", "", "", verdict(r)}
	}
	rs := resultsOf(reps)
	fig := func(name string, decimals int) string {
		m, _ := results.MetricByName(name)
		return ascii(results.FormatFigure(m.Summarize(rs).Summary, decimals))
	}
	var lost, dup, reorder int64
	v := verdict(r)
	for _, x := range reps {
		lost, dup, reorder = lost+x.Counts.Lost, dup+x.Counts.Duplicates, reorder+x.Counts.OutOfOrder
		if xv := verdict(x); passed(v) && !passed(xv) {
			v = xv
		}
	}
	return []string{r.Label, fmt.Sprintf("ok %d/%d", len(ok), len(reps)),
		fig("publishRate", 0), fig("publishMBps", 2), fig("consumeRate", 0),
		fig("publishP50", 2), fig("publishP99", 2), fig("publishP999", 2),
		fig("endToEndP50", 2), fig("endToEndP99", 2), fig("endToEndP999", 2),
		itoa(lost), itoa(dup), itoa(reorder), v}
}

// sectionTable is the summary table of one workload.
func sectionTable(sec *Section) table {
	t := table{Title: sec.Name, Header: summaryHeader}
	maxReps := 0
	for _, r := range sec.Runs {
		t.Rows = append(t.Rows, summaryRow(sec.repsOf(r)))
		maxReps = max(maxReps, len(sec.repsOf(r)))
	}
	if len(sec.Runs) > 0 && sec.Runs[0].ok() {
		r := sec.Runs[0]
		t.Notes = append(t.Notes, fmt.Sprintf("%s, %d s measured; latencies from the intended send time (CO-corrected).", r.settings(), int(r.Meta.MeasuredSeconds+0.5)))
	}
	t.Notes = append(t.Notes, repeatNote(maxReps))
	if w := durabilityWarning(sec.Runs); w != "" {
		t.Notes = append(t.Notes, w+".")
	}
	for _, r := range sec.Runs {
		for _, x := range sec.Reps[r.Label] {
			if n := statusNote(x); n != "" {
				t.Notes = append(t.Notes, n)
			}
			if n := x.UnsteadyNote(); n != "" {
				t.Notes = append(t.Notes, ascii("UNSTEADY "+n))
			}
		}
		if n := verdictNote(r); n != "" {
			t.Notes = append(t.Notes, n)
		}
		if n := queueNote(r); n != "" {
			t.Notes = append(t.Notes, n)
		}
	}
	return t
}

// repeatNote says what the figures of a table with up to n repetitions a
// series are.
func repeatNote(n int) string {
	if n <= 1 {
		return "1 repetition: no confidence interval (run --repeat 5 to measure the noise)."
	}
	return "With repetitions: mean +- half-width of its 95% confidence interval (Student t) over the ok repetitions; status ok k/n; counts summed over all repetitions."
}

// queueNote gives a queue run's own figures: releases, redeliveries and
// their delay, poison messages and dead letters; "" for other runs.
func queueNote(r *Run) string {
	c := r.Counts
	if !r.ok() || c.Released == 0 && c.Redelivered == 0 && c.PoisonAcked == 0 {
		return ""
	}
	s := fmt.Sprintf("%s: released %d, redelivered %d", r.Label, c.Released, c.Redelivered)
	if d := r.Latency.RedeliveryDelay; d.Count > 0 {
		s += fmt.Sprintf(" (redelivery delay p50 %s ms, p99 %s ms)", ff(d.P50), ff(d.P99))
	}
	if c.PoisonAcked > 0 {
		dl := "unknown (no dead-letter destination)"
		if c.DeadLettered >= 0 {
			dl = itoa(c.DeadLettered)
		}
		s += fmt.Sprintf(", poison messages %d, dead-lettered %s", c.PoisonAcked, dl)
	}
	return s + "."
}

// overallTable has one row per series of each workload, for summary.md.
func overallTable(secs []*Section) table {
	t := table{Title: "Summary", Header: append([]string{"workload"}, summaryHeader...)}
	maxReps := 0
	for _, sec := range secs {
		if sec.sweep {
			continue
		}
		for _, r := range sec.Runs {
			t.Rows = append(t.Rows, append([]string{r.Workload}, summaryRow(sec.repsOf(r))...))
			maxReps = max(maxReps, len(sec.repsOf(r)))
		}
	}
	t.Notes = []string{repeatNote(maxReps)}
	for _, sec := range secs {
		for _, r := range sec.Runs {
			for _, x := range sec.Reps[r.Label] {
				if n := x.UnsteadyNote(); n != "" && !sec.sweep {
					t.Notes = append(t.Notes, ascii("UNSTEADY "+n))
				}
			}
		}
	}
	return t
}

func ff(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// ms prints a latency, or "-" when nothing was recorded (count 0 is not
// zero latency).
func ms(count int64, v float64) string {
	if count == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
