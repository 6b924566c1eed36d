package reports

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestCapacityReport draws the capacity page of a recorded refbroker
// capacity-partitions sweep (testdata/capacity: 1, 2, 4 and 8 partitions,
// two repetitions each, recorded on a busy 2-core machine): a section
// with the hockey stick and the USL fit, and the search, fit and plan
// tables.
func TestCapacityReport(t *testing.T) {
	t.Parallel()
	runs, _, err := load(context.Background(), []string{"testdata/capacity"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := build(context.Background(), Options{In: []string{"testdata/capacity"}}, runs)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rep.secs, func(s *Section) bool { return s.Name == "capacity on refbroker" })
	if i < 0 {
		t.Fatalf("no capacity section among %d sections", len(rep.secs))
	}
	var ids []string
	for _, c := range rep.secs[i].Charts {
		ids = append(ids, c.ID)
	}
	if want := []string{"hockey-capacity-partitions", "usl-capacity-partitions"}; !slices.Equal(ids, want) {
		t.Errorf("capacity charts %v, want %v", ids, want)
	}
	var titles []string
	for _, tb := range rep.plan {
		titles = append(titles, tb.Title)
	}
	for _, want := range []string{"Capacity searches on refbroker", "Scalability fits on refbroker", "Capacity plan: partitions needed per target"} {
		if !slices.ContainsFunc(titles, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("capacity tables %q lack %q", titles, want)
		}
	}
	// Every search of the set is in the table, one row each.
	if rows := len(rep.plan[0].Rows); rows != 4 {
		t.Errorf("search table has %d rows, want the 4 sweep points", rows)
	}
	sum := newReport(t, Options{In: []string{"testdata/capacity"}})
	for _, p := range sum.PNGs {
		if nonWhite(decodePNG(t, p)) == 0 {
			t.Errorf("%s is blank", p)
		}
	}
	if got := pdfPages(t, sum.PDF); got != sum.Pages {
		t.Errorf("PDF has %d pages, Summary.Pages = %d", got, sum.Pages)
	}
}

// TestPlanOnRecordedSearches plans from the recorded refbroker searches:
// a target above every found rate is never feasible, and the reasons name
// the measured ceiling.
func TestPlanOnRecordedSearches(t *testing.T) {
	t.Parallel()
	p, err := PlanFromDirs(context.Background(), []string{"testdata/capacity"}, PlanRequest{Target: mustTP(t, "1GB/s"), Headroom: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Systems[0]
	if s.Feasible || p.Feasible() || s.Partitions != 0 || s.Extrapolated {
		t.Errorf("1 GB/s on a loopback refbroker: %+v", s)
	}
	if !strings.Contains(strings.Join(s.Reasons, "\n"), "not reachable with the measured setup") {
		t.Errorf("reasons do not say the target is not reachable:\n%s", strings.Join(s.Reasons, "\n"))
	}
	x, err := PlanFromDirs(context.Background(), []string{"testdata/capacity"}, PlanRequest{Target: mustTP(t, "1GB/s"), Headroom: 0.3, Extrapolate: true})
	if err != nil {
		t.Fatal(err)
	}
	if e := x.Systems[0]; e.Feasible || (e.MeasuredCeiling > 0 && (!e.Extrapolated || e.Nodes < 1 || e.NodesLow > e.Nodes || e.NodesHigh < e.Nodes)) {
		t.Errorf("extrapolated plan %+v", e)
	}
}

// TestBrokersSweep: searches of one workload on clusters of 1, 3 and 5
// brokers, declared with maxRate.brokers and read from one folder per
// cluster, form one sweep over brokers, fitted and planned from.
func TestBrokersSweep(t *testing.T) {
	t.Parallel()
	var runs []*Run
	for i, b := range []int{1, 3, 5} {
		r := searchPoint("kafka", 8, 10000*float64(b)*0.9, 10000*float64(b), 10000*float64(b)*1.1)
		r.Workload, r.Sweep = "capacity-brokers", nil
		r.Capacity.Brokers = b
		runs = append(runs, &Run{Result: r, Set: "cluster" + itoa(int64(i))})
	}
	nameRuns(runs, true)
	systems := capacitySystems(runs)
	if len(systems) != 1 || len(systems[0].Scenarios) != 1 {
		t.Fatalf("%d systems, want the three clusters as one system", len(systems))
	}
	sc := systems[0].Scenarios[0]
	if sc.Axis != "brokers" || sc.Fit == nil {
		t.Fatalf("axis %q fit %v (%v), want a fit over brokers", sc.Axis, sc.Fit, sc.FitErr)
	}
	p, err := makePlan(runs, PlanRequest{Target: mustTP(t, "15000msg/s"), Headroom: 0.3, Replication: 3})
	if err != nil {
		t.Fatal(err)
	}
	// 3 brokers found 27,000, 30,000 and 33,000 msg/s: a lower bound of
	// about 22,500 (Student-t, 2 degrees of freedom), x 0.7 >= 15,000.
	if s := p.Systems[0]; !s.Feasible || s.Nodes != 3 {
		t.Errorf("plan %+v, want 3 nodes", s)
	}
}
