package results

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"text/tabwriter"
)

// WriteScenarios prints, after the summary table, the figures each mission
// scenario exists to show, chosen by the workloads' report hints:
//
//   - per-partition with a partitionsPerTopic sweep: total and
//     per-partition msg/s and MB/s against the partition count;
//   - skew: per-partition distribution, max/mean skew, broker lag, and the
//     p99 latency penalty against the run with the least skew;
//   - queue: releases, redeliveries and their delay, poison messages and
//     dead letters;
//   - rebalance or pauses: rebalances, pauses, throughput dip and messages
//     delivered again;
//   - capacity searches (maxRate): the found rate per run with its
//     interval.
//
// Results are grouped by system and scenario; runs that did not complete
// are left out here (the summary table lists them).
func WriteScenarios(w io.Writer, rs []*Result) error {
	groups := groupByScenario(rs)
	for _, g := range groups {
		first := g[0]
		var err error
		switch {
		case first.Capacity != nil:
			err = writeCapacity(w, g)
		case slices.Contains(first.Report, "per-partition") && first.Sweep["partitionsPerTopic"] != "":
			err = writeSweep(w, g)
		case slices.Contains(first.Report, "skew"):
			err = writeSkew(w, g)
		case slices.Contains(first.Report, "queue"):
			err = writeQueue(w, g)
		case slices.Contains(first.Report, "rebalance") || slices.Contains(first.Report, "pauses"):
			err = writeRebalance(w, g)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func groupByScenario(rs []*Result) [][]*Result {
	idx := map[string]int{}
	var groups [][]*Result
	for _, r := range rs {
		if !r.Complete() {
			continue // no figures, or partial ones
		}
		key := r.Driver + "\x00" + r.Scenario
		i, ok := idx[key]
		if !ok {
			i = len(groups)
			idx[key] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	return groups
}

func writeSweep(w io.Writer, g []*Result) error {
	sort.SliceStable(g, func(i, j int) bool { return g[i].Partitions < g[j].Partitions })
	fmt.Fprintf(w, "\n%s on %s: throughput by partition count\n", g[0].Scenario, g[0].Driver)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "partitions\ttotal msg/s\ttotal MB/s\tper-partition msg/s\tper-partition MB/s\tpub p99 ms\t")
	for _, r := range g {
		d := Derive(r)
		perMB := d.PerPartitionRate * float64(r.MessageSize) / 1e6
		fmt.Fprintf(tw, "%d\t%.0f\t%.2f\t%.0f\t%.2f\t%.2f\t\n", r.Partitions, d.PublishRate, d.PublishMBps, d.PerPartitionRate, perMB, r.Latency.Publish.P99)
	}
	return tw.Flush()
}

func writeSkew(w io.Writer, g []*Result) error {
	base := g[0]
	for _, r := range g {
		if Derive(r).Skew < Derive(base).Skew {
			base = r
		}
	}
	fmt.Fprintf(w, "\n%s on %s: key skew (penalty against %s)\n", g[0].Scenario, g[0].Driver, sweepLabel(base))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tskew max/mean\tbusiest msg/s\tmean msg/s\tmax broker lag\te2e p99 ms\tp99 penalty\tmessages per partition\t")
	for _, r := range g {
		d := Derive(r)
		var maxLag int64 = -1
		dist := ""
		for i, p := range r.PartitionsDetail {
			maxLag = max(maxLag, p.BrokerLag)
			if i > 0 {
				dist += " "
			}
			dist += strconv.FormatInt(p.MeasuredSent, 10)
		}
		penalty := "-"
		if b := base.Latency.EndToEnd.P99; b > 0 && r != base {
			penalty = fmt.Sprintf("%.2fx", r.Latency.EndToEnd.P99/b)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.0f\t%.0f\t%s\t%.2f\t%s\t%s\t\n", sweepLabel(r), d.Skew, d.MaxPartitionRate, d.PerPartitionRate,
			lagText(maxLag), r.Latency.EndToEnd.P99, penalty, dist)
	}
	return tw.Flush()
}

func writeRebalance(w io.Writer, g []*Result) error {
	fmt.Fprintf(w, "\n%s on %s: consumer churn\n", g[0].Scenario, g[0].Driver)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\trebalances\tpauses\tmax pause s\ttotal pause s\tconsume msg/s\tmin msg/s\tdip\tdelivered again\te2e p99 ms\t")
	for _, r := range g {
		d := Derive(r)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%.0f\t%.0f\t%.0f%%\t%d\t%.2f\t\n", sweepLabel(r), r.Counts.Rebalances, d.Pauses, d.MaxPause,
			d.TotalPause, d.ConsumeRate, d.MinConsumeRate, 100*d.Dip, r.Counts.Duplicates, r.Latency.EndToEnd.P99)
	}
	return tw.Flush()
}

func writeQueue(w io.Writer, g []*Result) error {
	fmt.Fprintf(w, "\n%s on %s: queue behaviour\n", g[0].Scenario, g[0].Driver)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tconsume msg/s\tprocessed p99 ms\treleased\tredelivered\tredelivery p50 ms\tredelivery p99 ms\tpoison\tdead-lettered\tlost\taccepted twice\t")
	for _, r := range g {
		d := Derive(r)
		c := r.Counts
		dl := "n/a"
		if c.DeadLettered >= 0 && c.PoisonAcked > 0 {
			dl = strconv.FormatInt(c.DeadLettered, 10)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%d\t%d\t%.2f\t%.2f\t%d\t%s\t%d\t%d\t\n", sweepLabel(r), d.ConsumeRate, r.Latency.EndToEnd.P99,
			c.Released, c.Redelivered, r.Latency.RedeliveryDelay.P50, r.Latency.RedeliveryDelay.P99, c.PoisonAcked, dl, c.Lost, c.Duplicates)
	}
	return tw.Flush()
}

func sweepLabel(r *Result) string {
	if len(r.Sweep) == 0 {
		return r.Workload
	}
	keys := make([]string, 0, len(r.Sweep))
	for k := range r.Sweep {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ","
		}
		s += k + "=" + r.Sweep[k]
	}
	return s
}

func lagText(l int64) string {
	if l < 0 {
		return "n/a"
	}
	return strconv.FormatInt(l, 10)
}
