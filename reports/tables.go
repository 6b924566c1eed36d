package reports

import (
	"fmt"
	"strconv"
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

// summaryRow is one run's row: throughput, corrected latency percentiles,
// delivery counts and the verdict.
func summaryRow(r *Run) []string {
	if !r.ok() {
		return []string{r.Label, string(r.Status), ascii(r.Error), "", "", "", "", "", "", "", "", "", "", "", verdict(r)}
	}
	l := r.Latency
	return []string{r.Label, string(r.Status), fmtRate(r.D.PublishRate), ff(r.D.PublishMBps), fmtRate(r.D.ConsumeRate),
		ms(l.Publish.Count, l.Publish.P50), ms(l.Publish.Count, l.Publish.P99), ms(l.Publish.Count, l.Publish.P999),
		ms(l.EndToEnd.Count, l.EndToEnd.P50), ms(l.EndToEnd.Count, l.EndToEnd.P99), ms(l.EndToEnd.Count, l.EndToEnd.P999),
		itoa(r.Counts.Lost), itoa(r.Counts.Duplicates), itoa(r.Counts.OutOfOrder), verdict(r)}
}

// sectionTable is the summary table of one workload.
func sectionTable(sec *Section) table {
	t := table{Title: sec.Name, Header: summaryHeader}
	for _, r := range sec.Runs {
		t.Rows = append(t.Rows, summaryRow(r))
	}
	if len(sec.Runs) > 0 && sec.Runs[0].ok() {
		r := sec.Runs[0]
		t.Notes = append(t.Notes, fmt.Sprintf("%s, %d s measured; latencies from the intended send time (CO-corrected).", r.settings(), int(r.Meta.MeasuredSeconds+0.5)))
	}
	if w := durabilityWarning(sec.Runs); w != "" {
		t.Notes = append(t.Notes, w+".")
	}
	for _, r := range sec.Runs {
		if n := verdictNote(r); n != "" {
			t.Notes = append(t.Notes, n)
		}
		if n := queueNote(r); n != "" {
			t.Notes = append(t.Notes, n)
		}
	}
	return t
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

// overallTable has one row per run, for summary.md.
func overallTable(runs []*Run) table {
	t := table{Title: "Summary", Header: append([]string{"workload"}, summaryHeader...)}
	for _, r := range runs {
		t.Rows = append(t.Rows, append([]string{r.Workload}, summaryRow(r)...))
	}
	return t
}

// ratioTables compare each workload's series with its first (the
// baseline: the first --in folder, then systems in name order). Ratios
// above 1 mean more throughput, or more (worse) latency.
func ratioTables(secs []*Section) []table {
	var out []table
	for _, sec := range secs {
		if sec.sweep {
			continue
		}
		var ok []*Run
		for _, r := range sec.Runs {
			if r.ok() {
				ok = append(ok, r)
			}
		}
		if len(ok) < 2 {
			continue
		}
		base := ok[0]
		t := table{Title: sec.Name + ": compared with " + base.Label,
			Header: []string{"system", "pub msg/s", "cons msg/s", "pub p50", "pub p99", "e2e p50", "e2e p99", "lost", "dup"}}
		for _, r := range ok[1:] {
			t.Rows = append(t.Rows, []string{r.Label,
				ratio(r.D.PublishRate, base.D.PublishRate), ratio(r.D.ConsumeRate, base.D.ConsumeRate),
				ratio(r.Latency.Publish.P50, base.Latency.Publish.P50), ratio(r.Latency.Publish.P99, base.Latency.Publish.P99),
				ratio(r.Latency.EndToEnd.P50, base.Latency.EndToEnd.P50), ratio(r.Latency.EndToEnd.P99, base.Latency.EndToEnd.P99),
				diff(r.Counts.Lost, base.Counts.Lost), diff(r.Counts.Duplicates, base.Counts.Duplicates)})
		}
		t.Notes = []string{"Rates: above 1x is faster. Latencies: above 1x is slower. Counts: difference from " + base.Label + "."}
		if w := durabilityWarning(ok); w != "" {
			t.Notes = append(t.Notes, w+".")
		}
		out = append(out, t)
	}
	return out
}

func ratio(v, base float64) string {
	if base <= 0 || v < 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v/base)
}

func diff(v, base int64) string {
	if v >= base {
		return "+" + itoa(v-base)
	}
	return itoa(v - base)
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
