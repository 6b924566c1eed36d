package reports

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/brokerbench/brokerbench/results"
)

// DefaultHeadroom is the share of measured per-partition throughput kept
// in reserve when planning: 0.3 plans each partition at 70% of what it was
// measured to sustain.
const DefaultHeadroom = 0.3

// PlanRequest is what a capacity plan is asked for. The zero value is not
// valid: Target must be set. Build it with named fields.
type PlanRequest struct {
	// Target is the total throughput the topic must sustain.
	Target Throughput
	// Consumers is the number of consumers in one group that must all
	// have work; the plan never recommends fewer partitions. 0 = no floor.
	Consumers int
	// Headroom in [0, 1): the share of measured per-partition throughput
	// kept in reserve. Callers wanting the default set DefaultHeadroom.
	Headroom float64
	// MessageSize in bytes, for msg/s targets only: when set, the target
	// is converted to bytes/s and compared with measured bytes/s per
	// partition; when 0, measured msg/s per partition is used as is.
	MessageSize int
	_           struct{}
}

// Validate reports an out-of-range request; errors wrap ErrBadPlan.
func (q PlanRequest) Validate() error {
	switch {
	case q.Target.Value <= 0 || math.IsNaN(q.Target.Value) || math.IsInf(q.Target.Value, 0):
		return fmt.Errorf("%w: target throughput must be positive", ErrBadPlan)
	case q.Headroom < 0 || q.Headroom >= 1 || math.IsNaN(q.Headroom):
		return fmt.Errorf("%w: headroom %v must be at least 0 and below 1 (0.3 = keep 30%% in reserve)", ErrBadPlan, q.Headroom)
	case q.Consumers < 0:
		return fmt.Errorf("%w: consumers %d must not be negative", ErrBadPlan, q.Consumers)
	case q.MessageSize < 0:
		return fmt.Errorf("%w: message size %d must not be negative", ErrBadPlan, q.MessageSize)
	case q.MessageSize > 0 && q.Target.Unit != UnitMessages:
		return fmt.Errorf("%w: --message-size applies to msg/s targets only; %s is already in bytes", ErrBadPlan, q.Target.Text)
	}
	return nil
}

// SystemPlan is the recommendation for one system (one series).
type SystemPlan struct {
	// System is the series label (system, with its set when compared).
	System string
	// Partitions is the recommendation: max(ByThroughput, ByConsumers, 1).
	Partitions int
	// ByThroughput is ceil(target / Capacity); ByConsumers the floor.
	ByThroughput, ByConsumers int
	// PerPartition is the measured per-partition throughput used, in the
	// plan's unit (bytes/s or msg/s): the lowest of the sweep, measured
	// at MeasuredAt partitions. Capacity is PerPartition*(1-headroom).
	PerPartition, Capacity float64
	MeasuredAt             int
	// MaxMeasured is the largest partition count in the sweep.
	MaxMeasured int
	// Reasoning explains each step; Warnings name risks (hot-key skew,
	// extrapolation).
	Reasoning, Warnings []string
}

// Plan is a capacity plan over every system with sweep results.
type Plan struct {
	Request PlanRequest
	Systems []SystemPlan
}

// PlanFromDirs reads result folders and plans for every system that has
// throughput-per-partition (sweep) results. Errors wrap ErrBadPlan,
// ErrNoResults or ErrNoSweep.
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
	sweeps := map[string][]*Run{}
	var order []string
	for _, r := range runs {
		if isSweep(r) && r.D.PerPartitionRate > 0 {
			if sweeps[r.Label] == nil {
				order = append(order, r.Label)
			}
			sweeps[r.Label] = append(sweeps[r.Label], r)
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("%w: run the throughput-per-partition workload first (brokerbench run --workload throughput-per-partition)", ErrNoSweep)
	}
	p := &Plan{Request: q}
	for _, label := range order {
		p.Systems = append(p.Systems, planSystem(label, sweeps[label], skewRuns(runs, label), q))
	}
	return p, nil
}

func skewRuns(runs []*Run, label string) []*Run {
	var out []*Run
	for _, r := range runs {
		if r.Label == label && r.ok() && hasHint(r, "skew") && r.D.Skew > 0 && len(r.PartitionsDetail) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// perPartition is a sweep point's measured per-partition throughput in
// the plan's unit.
func perPartition(r *Run, q PlanRequest) float64 {
	if q.Target.Unit == UnitMessages && q.MessageSize == 0 {
		return r.D.PerPartitionRate
	}
	return r.D.PerPartitionRate * float64(r.MessageSize)
}

// total is a sweep point's measured total throughput in the plan's unit.
func total(r *Run, q PlanRequest) float64 {
	return perPartition(r, q) * float64(len(r.PartitionsDetail))
}

// target is the target in the plan's unit.
func (q PlanRequest) target() float64 {
	if q.Target.Unit == UnitMessages && q.MessageSize > 0 {
		return q.Target.Value * float64(q.MessageSize)
	}
	return q.Target.Value
}

func (q PlanRequest) format(v float64) string {
	if q.Target.Unit == UnitMessages && q.MessageSize == 0 {
		return fmtRate(v) + " msg/s"
	}
	return fmt.Sprintf("%.2f MB/s", v/1e6)
}

func planSystem(label string, sweep, skews []*Run, q PlanRequest) SystemPlan {
	sp := SystemPlan{System: label, ByConsumers: q.Consumers}
	sort.Slice(sweep, func(i, j int) bool { return sweep[i].Partitions < sweep[j].Partitions })
	var low, best *Run
	for _, r := range sweep {
		sp.MaxMeasured = max(sp.MaxMeasured, r.Partitions)
		if best == nil || total(best, q) < total(r, q) {
			best = r
		}
		if low == nil || perPartition(r, q) < perPartition(low, q) {
			low = r
		}
	}
	sp.PerPartition, sp.MeasuredAt = perPartition(low, q), low.Partitions
	sp.Capacity = sp.PerPartition * (1 - q.Headroom)
	target := q.target()
	sp.ByThroughput = int(math.Ceil(target/sp.Capacity - 1e-9))
	sp.Partitions = max(sp.ByThroughput, sp.ByConsumers, 1)
	var pts []string
	for _, r := range sweep {
		pts = append(pts, fmt.Sprintf("%d: %s", r.Partitions, q.format(perPartition(r, q))))
	}
	why := []string{
		fmt.Sprintf("measured per-partition throughput by partition count (%d B messages): %s", low.MessageSize, strings.Join(pts, ", ")),
		fmt.Sprintf("using the lowest, %s at %d partitions: per-partition throughput falls as partitions share one broker and client, so the lowest is the safe figure", q.format(sp.PerPartition), sp.MeasuredAt),
		fmt.Sprintf("headroom %.0f%%: plan each partition at %s (%s x %.2f)", 100*q.Headroom, q.format(sp.Capacity), q.format(sp.PerPartition), 1-q.Headroom),
		fmt.Sprintf("by throughput: ceil(%s / %s) = %d partitions", q.format(target), q.format(sp.Capacity), sp.ByThroughput),
	}
	if q.Target.Unit == UnitMessages && q.MessageSize > 0 {
		why = append(why, fmt.Sprintf("target %s x %d B = %s; this assumes per-partition bytes/s measured with %d B messages holds at %d B", q.Target.Text, q.MessageSize, q.format(target), low.MessageSize, q.MessageSize))
		if r := float64(q.MessageSize) / float64(low.MessageSize); r > 2 || r < 0.5 {
			sp.Warnings = append(sp.Warnings, fmt.Sprintf("message size %d B is far from the measured %d B: rerun the sweep with messageSize %d for a reliable figure", q.MessageSize, low.MessageSize, q.MessageSize))
		}
	}
	if q.Consumers > 0 {
		why = append(why, fmt.Sprintf("by consumers: %d (a partition is read by one consumer of a group, so fewer partitions leave consumers idle)", q.Consumers))
	} else {
		why = append(why, "no consumer count given (--consumers): no consumer floor")
	}
	why = append(why, fmt.Sprintf("recommendation: max(%d, %d) = %d partitions", sp.ByThroughput, q.Consumers, sp.Partitions))
	sp.Reasoning = why
	if sp.Partitions > sp.MaxMeasured {
		sp.Warnings = append(sp.Warnings, fmt.Sprintf("%d partitions is beyond the largest measured count (%d): extend the sweep to confirm per-partition throughput holds there", sp.Partitions, sp.MaxMeasured))
	}
	if t := total(best, q); t < target {
		sp.Warnings = append(sp.Warnings, fmt.Sprintf("the best measured total was %s (at %d partitions), below the target: the plan assumes per-partition throughput holds as partitions are added, which needs more brokers and load generators than the measurement had", q.format(t), best.Partitions))
	}
	for _, r := range skews {
		sp.Warnings = append(sp.Warnings, skewWarnings(r, sp, q)...)
	}
	return sp
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

// skewWarnings warns when a hot-keys run's skew would overload one
// partition at the planned count. A hot key stays on one partition however
// many there are, so only its share's remainder spreads out.
func skewWarnings(r *Run, sp SystemPlan, q PlanRequest) []string {
	n := len(r.PartitionsDetail)
	if r.D.Skew < minSkew || n < 2 {
		return nil
	}
	h := hotShare(r.D.Skew, n)
	t := q.target()
	hot := h*t + (1-h)*t/float64(sp.Partitions)
	if hot <= sp.Capacity {
		return nil
	}
	head := fmt.Sprintf("hot keys: run %s showed skew %.2fx over %d partitions, about %.0f%% of messages on one key; at %d partitions its partition needs %s, above the planned per-partition %s.",
		r.Workload, r.D.Skew, n, 100*h, sp.Partitions, q.format(hot), q.format(sp.Capacity))
	if h*t >= sp.Capacity {
		return []string{head + fmt.Sprintf(" The key alone needs %s: more partitions cannot fix this; spread the key (salt it) or reduce its share", q.format(h*t))}
	}
	need := int(math.Ceil((1 - h) * t / (sp.Capacity - h*t)))
	return []string{head + fmt.Sprintf(" %d partitions would keep it within capacity; or spread the key", need)}
}

// WriteText prints the plan with its reasoning, one block per system.
func (p *Plan) WriteText(w io.Writer) error {
	q := p.Request
	fmt.Fprintf(w, "Capacity plan: target %s, headroom %.0f%%, consumers %d\n", q.Target.Text, 100*q.Headroom, q.Consumers)
	fmt.Fprintf(w, "Rule: partitions = max(ceil(target / (per-partition throughput x (1 - headroom))), consumers)\n")
	for _, s := range p.Systems {
		fmt.Fprintf(w, "\n%s: %d partitions\n", s.System, s.Partitions)
		for _, l := range s.Reasoning {
			fmt.Fprintf(w, "  - %s\n", l)
		}
		for _, l := range s.Warnings {
			fmt.Fprintf(w, "  WARNING: %s\n", l)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

// planTable is the plan as a table for the PDF, HTML and summary.md.
func (p *Plan) planTable() table {
	q := p.Request
	t := table{Title: fmt.Sprintf("Capacity plan: target %s, headroom %.0f%%, consumers %d", q.Target.Text, 100*q.Headroom, q.Consumers),
		Header: []string{"system", "partitions", "by throughput", "by consumers", "per-partition", "planned per-partition", "measured at"}}
	for _, s := range p.Systems {
		t.Rows = append(t.Rows, []string{s.System, fmt.Sprint(s.Partitions), fmt.Sprint(s.ByThroughput), fmt.Sprint(s.ByConsumers),
			q.format(s.PerPartition), q.format(s.Capacity), fmt.Sprintf("%d partitions", s.MeasuredAt)})
		for _, l := range s.Reasoning {
			t.Notes = append(t.Notes, s.System+": "+l)
		}
		for _, l := range s.Warnings {
			t.Notes = append(t.Notes, s.System+": WARNING: "+l)
		}
	}
	return t
}
