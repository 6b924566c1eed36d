package reports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/brokerbench/brokerbench/capacity"
	"github.com/brokerbench/brokerbench/results"
)

// PlanRequest is what a capacity plan is asked for. The zero value is not
// valid: Target must be set. Build it with named fields; zero fields mean
// the defaults documented on [capacity.Request] (Headroom 0 is no
// headroom: callers wanting the default set capacity.DefaultHeadroom).
type PlanRequest struct {
	// Target is the total throughput to sustain.
	Target Throughput
	// Consumers in one group; MessageSize in bytes (0 = as measured);
	// Replication the replication factor; FanOut the subscriptions.
	Consumers, MessageSize, Replication, FanOut int
	// Objective is the latency objective; nil = the one measured.
	Objective *capacity.Objective
	// TopKeyShare is the hottest key's declared share of messages; 0 =
	// estimated from hot-keys runs, when there are any.
	TopKeyShare float64
	// Headroom in [0, 1): the share of the ceiling kept in reserve.
	Headroom float64
	// Extrapolate asks for a node estimate past the measured ceiling.
	Extrapolate bool
	_           struct{}
}

func (q PlanRequest) request() capacity.Request {
	return capacity.Request{Target: q.Target.Value, TargetBytes: q.Target.Unit == UnitBytes, TargetText: q.Target.Text,
		MessageSize: q.MessageSize, Consumers: q.Consumers, Objective: q.Objective, Replication: q.Replication,
		FanOut: q.FanOut, TopKeyShare: q.TopKeyShare, Headroom: q.Headroom, Extrapolate: q.Extrapolate}
}

// Validate reports an out-of-range request; errors wrap ErrBadPlan.
func (q PlanRequest) Validate() error {
	if err := q.request().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadPlan, err)
	}
	return nil
}

// Plan is a capacity plan for every system with capacity searches.
type Plan struct {
	Request PlanRequest
	// Systems has one plan per system, in report order.
	Systems []capacity.Plan
}

// Feasible reports whether every system's plan is feasible: a measured
// setup sustains the target. `brokerbench plan` exits non-zero otherwise.
func (p *Plan) Feasible() bool {
	return !slices.ContainsFunc(p.Systems, func(s capacity.Plan) bool { return !s.Feasible })
}

// PlanFromDirs reads result folders and plans for every system with
// capacity searches (maxRate workloads). Errors wrap ErrBadPlan,
// ErrNoResults or ErrNoCapacity.
func PlanFromDirs(ctx context.Context, dirs []string, q PlanRequest) (*Plan, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	runs, _, err := load(ctx, dirs)
	if err != nil {
		return nil, err
	}
	return makePlan(runs, q)
}

// PlanFromResults plans from results already read, as one set.
func PlanFromResults(rs []*results.Result, q PlanRequest) (*Plan, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	runs := make([]*Run, len(rs))
	for i, r := range rs {
		runs[i] = &Run{Result: r, D: results.Derive(r)}
	}
	nameRuns(runs, false)
	return makePlan(runs, q)
}

func makePlan(runs []*Run, q PlanRequest) (*Plan, error) {
	systems := capacitySystems(runs)
	if len(systems) == 0 {
		return nil, fmt.Errorf("%w: run a maxRate workload first (brokerbench run --workload capacity-partitions)", ErrNoCapacity)
	}
	p := &Plan{Request: q}
	for _, s := range systems {
		p.Systems = append(p.Systems, capacity.MakePlan(s.Label, q.request(), s.measured(), s.fits(), hotShareOf(runs, s.Label)))
	}
	return p, nil
}

// minSkew is the skew (max/mean partition rate) below which a hot-keys
// run is taken as evenly spread: short runs over many keys show skews of
// 1.1-1.3 from sampling alone.
const minSkew = 1.5

// hotShare estimates the hottest key's share of traffic from a run's skew
// over n partitions, assuming one hot key and the rest spread evenly: the
// busiest partition then carries h + (1-h)/n = skew/n, so
// h = (skew-1)/(n-1). (80% on one key over 8 partitions gives skew 6.6 and
// h = 0.80.)
func hotShare(skew float64, n int) float64 {
	if n < 2 {
		return 0
	}
	return math.Min(1, math.Max(0, (skew-1)/float64(n-1)))
}

// hotShareOf is the largest hot-key share of label's hot-keys runs (the
// workloads with the skew report hint), 0 when none is skewed.
func hotShareOf(runs []*Run, label string) float64 {
	h := 0.0
	for _, r := range runs {
		if r.Label == label && r.ok() && hasHint(r, "skew") && r.D.Skew >= minSkew && len(r.PartitionsDetail) >= 2 {
			h = math.Max(h, hotShare(r.D.Skew, len(r.PartitionsDetail)))
		}
	}
	return math.Min(h, 0.99)
}

// WriteText prints the plan with its reasoning, one block per system.
func (p *Plan) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Capacity plan: %s\n", p.Request.describe())
	for _, s := range p.Systems {
		verdict := fmt.Sprintf("%d node(s), %d partitions, %d producer(s), headroom %.0f%%", s.Nodes, s.Partitions, s.Producers, 100*s.Headroom)
		switch {
		case s.Extrapolated:
			verdict = fmt.Sprintf("NOT REACHABLE with the measured setup; extrapolated estimate %d node(s) (%d-%d)", s.Nodes, s.NodesLow, s.NodesHigh)
		case !s.Feasible:
			verdict = "NOT REACHABLE with the measured setup"
		}
		fmt.Fprintf(w, "\n%s: %s (binding: %s)\n", s.System, verdict, s.Binding)
		for _, l := range s.Reasons {
			fmt.Fprintf(w, "  - %s\n", l)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

// WriteJSON prints the plans as a JSON array, one object per system (see
// [capacity.Plan] for the fields; unbounded figures are null).
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p.Systems)
}

// describe is the request in one line.
func (q PlanRequest) describe() string {
	parts := []string{"target " + q.Target.Text, fmt.Sprintf("headroom %.0f%%", 100*q.Headroom)}
	if q.Consumers > 0 {
		parts = append(parts, fmt.Sprintf("consumers %d", q.Consumers))
	}
	if q.Objective != nil {
		parts = append(parts, "objective "+q.Objective.String())
	}
	if q.Replication > 1 {
		parts = append(parts, fmt.Sprintf("replication %d", q.Replication))
	}
	if q.FanOut > 1 {
		parts = append(parts, fmt.Sprintf("fan-out %d", q.FanOut))
	}
	if q.MessageSize > 0 {
		parts = append(parts, fmt.Sprintf("%d B messages", q.MessageSize))
	}
	if q.TopKeyShare > 0 {
		parts = append(parts, fmt.Sprintf("top key %.0f%%", 100*q.TopKeyShare))
	}
	return strings.Join(parts, ", ")
}

// planTable is the plan as a table for the PDF, HTML and summary.md.
func (p *Plan) planTable() table {
	t := table{Title: "Capacity plan: " + p.Request.describe(),
		Header: []string{"system", "feasible", "nodes", "partitions", "producers", "headroom", "binding", "measured ceiling msg/s", "fitted X_max msg/s"}}
	for _, s := range p.Systems {
		t.Rows = append(t.Rows, planRow(s))
		for _, l := range s.Reasons {
			t.Notes = append(t.Notes, s.System+": "+l)
		}
	}
	return t
}

func planRow(s capacity.Plan) []string {
	feasible, nodes, parts, prods, head := "yes", fmt.Sprint(s.Nodes), fmt.Sprint(s.Partitions), fmt.Sprint(s.Producers), fmt.Sprintf("%.0f%%", 100*s.Headroom)
	if !s.Feasible {
		feasible, nodes, parts, prods, head = "NO: not reachable with the measured setup", "-", "-", "-", "-"
		if s.Extrapolated {
			nodes = fmt.Sprintf("~%d (%d-%d, extrapolated)", s.Nodes, s.NodesLow, s.NodesHigh)
		}
	}
	xmax := "-"
	if f := s.FittedMax; f != nil {
		xmax = fmtParam(*f)
	}
	return []string{s.System, feasible, nodes, parts, prods, head, s.Binding, fmtRate(s.MeasuredCeiling), xmax}
}

// standardTargets are the targets of the plan table a report shows when no
// target was asked for.
var standardTargets = []string{"10MB/s", "100MB/s", "500MB/s", "1GB/s"}

// standardPlanTable answers the standard targets at the default headroom,
// one column per target; nil without capacity searches.
func standardPlanTable(runs []*Run) (*table, error) {
	t := &table{Title: fmt.Sprintf("Capacity plan: partitions needed per target (headroom %.0f%%, objective as measured)", 100*capacity.DefaultHeadroom),
		Header: []string{"system", "measured ceiling msg/s"}}
	var plans []*Plan
	for _, s := range standardTargets {
		tp, err := ParseThroughput(s)
		if err != nil {
			return nil, err
		}
		p, err := makePlan(runs, PlanRequest{Target: tp, Headroom: capacity.DefaultHeadroom})
		if errors.Is(err, ErrNoCapacity) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
		t.Header = append(t.Header, s)
	}
	for i, s := range plans[0].Systems {
		row := []string{s.System, fmtRate(s.MeasuredCeiling)}
		for _, p := range plans {
			sp := p.Systems[i]
			cell := fmt.Sprintf("%d part.", sp.Partitions)
			if !sp.Feasible {
				cell = "not reachable (" + sp.Binding + ")"
			}
			row = append(row, cell)
		}
		t.Rows = append(t.Rows, row)
	}
	t.Notes = []string{"Each cell is the smallest measured setup that sustains the target at the lower bound of its found rate, minus headroom; " +
		"\"not reachable\" means no measured setup did. `brokerbench plan` prints the reasoning, and estimates nodes only with --extrapolate."}
	return t, nil
}

// fmtParam prints a fitted figure with its interval.
func fmtParam(p capacity.Param) string {
	f := func(v float64) string {
		if math.IsInf(v, 1) {
			return "unbounded"
		}
		return fmtRate(v)
	}
	if p.Low == p.High {
		return f(p.Value)
	}
	return fmt.Sprintf("%s [%s, %s]", f(p.Value), f(p.Low), f(p.High))
}
