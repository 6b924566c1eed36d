package capacity

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/brokerbench/brokerbench/stats"
)

// DefaultHeadroom is the share of a measured ceiling kept in reserve:
// 0.3 plans at 70% of the lower bound of the found rate.
const DefaultHeadroom = 0.3

// Binding constraints of a plan: what sets (or blocks) the answer.
const (
	BindPartitionRate = "per-partition rate"   // fewer partitions did not sustain the target
	BindConsumers     = "consumer parallelism" // partitions raised to the consumer count
	BindHotKey        = "hot key"              // one key's partition sets the count, or cannot carry it
	BindNodeCeiling   = "per-node ceiling"     // the target is above what the measured setup sustained
	BindReplication   = "replication factor"   // more replicas than measured nodes
	BindObjective     = "latency objective"    // nothing was measured at an objective this strict
	BindFanOut        = "fan-out"              // nothing was measured with this many subscriptions
	BindMessageSize   = "message size"         // nothing was measured near this message size
	BindNone          = "none"                 // the smallest measured setup already sustains the target
)

// ErrBadRequest is wrapped by [Request.Validate] errors.
var ErrBadRequest = errors.New("bad plan request")

// Request is what a plan is asked for. Build it with named fields.
type Request struct {
	// Target is the throughput to sustain: msg/s, or bytes/s when
	// TargetBytes. TargetText is how the user wrote it.
	Target      float64
	TargetBytes bool
	TargetText  string
	// MessageSize in bytes; 0 = as measured. Points measured more than 2x
	// away from it are not used.
	MessageSize int
	// Consumers in one group; every consumer needs a partition.
	Consumers int
	// Objective is the latency objective; nil = the one measured. Only
	// searches at an objective at least as strict are used.
	Objective *Objective
	// Replication is the replication factor; default 1.
	Replication int
	// FanOut is the number of subscriptions reading every message;
	// default 1. Only searches with at least as many are used.
	FanOut int
	// TopKeyShare is the hottest key's share of messages, [0, 1); 0 = no
	// hot key declared (reports then estimate it from hot-keys runs).
	TopKeyShare float64
	// Headroom in [0, 1): the share of the ceiling kept in reserve.
	Headroom float64
	// Extrapolate asks for a node estimate from the per-node model when
	// the target is above what was measured; the plan stays infeasible.
	Extrapolate bool
	_           struct{}
}

// Validate reports an out-of-range request; errors wrap ErrBadRequest.
func (q Request) Validate() error {
	switch {
	case !(q.Target > 0) || math.IsInf(q.Target, 0):
		return fmt.Errorf("%w: target throughput must be positive", ErrBadRequest)
	case !(q.Headroom >= 0 && q.Headroom < 1):
		return fmt.Errorf("%w: headroom %v must be at least 0 and below 1 (0.3 = keep 30%% in reserve)", ErrBadRequest, q.Headroom)
	case q.Consumers < 0, q.MessageSize < 0, q.Replication < 0, q.FanOut < 0:
		return fmt.Errorf("%w: consumers, message size, replication factor and fan-out must not be negative", ErrBadRequest)
	case !(q.TopKeyShare >= 0 && q.TopKeyShare < 1):
		return fmt.Errorf("%w: top-key share %v must be in [0, 1), e.g. 0.2 for 20%% of messages on one key", ErrBadRequest, q.TopKeyShare)
	}
	if q.Objective != nil {
		if err := q.Objective.Validate(); err != nil {
			return fmt.Errorf("%w: latency objective: %v", ErrBadRequest, err)
		}
	}
	return nil
}

// Measured is one found rate, as the planner sees it: the setup a search
// ran with and what it found.
type Measured struct {
	// Label names the point in reasons ("capacity-partitions[partitionsPerTopic=4]").
	Label string
	// Partitions (per topic), Producers (per topic), Consumers (per
	// subscription), Subscriptions and Brokers (declared, else 1).
	Partitions, Producers, Consumers, Subscriptions, Brokers int
	// MessageSize in bytes.
	MessageSize int
	// Objective the search met.
	Objective Objective
	// Found is the found rate across repetitions, msg/s; Repetitions the
	// searches run (Found.N of them confirmed a rate).
	Found       stats.Summary
	Repetitions int
}

// low is the conservative found rate: the interval's lower bound.
func (m Measured) low() float64 { return m.Found.Low }

// Plan is the answer for one system. Rates are msg/s.
type Plan struct {
	// System is the series label.
	System string `json:"system"`
	// Target in msg/s, and as the user wrote it.
	Target     float64 `json:"target"`
	TargetText string  `json:"targetText"`
	// MessageSize the target was converted with, bytes.
	MessageSize int `json:"messageSize"`
	// MeasuredCeiling is the highest found rate of a usable search (mean
	// across repetitions) and MeasuredCeilingLow its interval's lower
	// bound, which the plan uses.
	MeasuredCeiling    float64 `json:"measuredCeiling"`
	MeasuredCeilingLow float64 `json:"measuredCeilingLow"`
	// FittedMax is the USL's X_max with its interval from the partitions
	// sweep (else producers, consumers, brokers); nil without a fit.
	FittedMax *Param `json:"fittedMax"`
	// SaturatedAt is where the measured ceiling was found: the setup of
	// that search.
	SaturatedAt string `json:"saturatedAt"`
	// Partitions, Producers and Nodes recommended; 0 when not feasible
	// (Nodes may then hold an extrapolated estimate, see NodesLow/High).
	Partitions int `json:"partitions"`
	Producers  int `json:"producers"`
	Nodes      int `json:"nodes"`
	// NodesLow and NodesHigh bound an extrapolated node estimate (from the
	// found rate's interval); 0 otherwise.
	NodesLow  int `json:"nodesLow,omitempty"`
	NodesHigh int `json:"nodesHigh,omitempty"`
	// Headroom is the share of the chosen setup's conservative ceiling
	// left unused at the target.
	Headroom float64 `json:"headroom"`
	// Feasible: a measured setup sustains the target with the requested
	// headroom. Never true for a target above what was measured.
	Feasible bool `json:"feasible"`
	// Extrapolated: Nodes is an estimate from the per-node model, not a
	// measurement.
	Extrapolated bool `json:"extrapolated"`
	// Binding is what sets or blocks the answer (Bind* constants).
	Binding string `json:"binding"`
	// Reasons is the reasoning, step by step.
	Reasons []string `json:"reasons"`
}

// planner builds one system's plan.
type planner struct {
	q   Request
	p   *Plan
	pts []Measured
}

// MakePlan plans for one system from its measured searches. fits are the
// system's USL fits by swept key (partitionsPerTopic, producersPerTopic,
// consumerPerSubscription, brokers); hotShare is the hottest key's share
// estimated from the system's hot-keys runs (0 = none), used when q
// declares none. q must be valid.
func MakePlan(system string, q Request, pts []Measured, fits map[string]Fit, hotShare float64) Plan {
	if q.Replication == 0 {
		q.Replication = 1
	}
	if q.FanOut == 0 {
		q.FanOut = 1
	}
	if q.TopKeyShare == 0 {
		q.TopKeyShare = hotShare
	}
	pl := &planner{q: q, p: &Plan{System: system, TargetText: q.TargetText}}
	pl.fitted(fits)
	pl.usable(pts)
	if len(pl.pts) == 0 {
		return *pl.p
	}
	pl.choose()
	if !pl.p.Feasible && q.Extrapolate {
		pl.extrapolate()
	}
	return *pl.p
}

func (pl *planner) why(format string, args ...any) {
	pl.p.Reasons = append(pl.p.Reasons, fmt.Sprintf(format, args...))
}

// fitted records X_max from the first sweep axis with a fit.
func (pl *planner) fitted(fits map[string]Fit) {
	for _, axis := range []string{"partitionsPerTopic", "producersPerTopic", "consumerPerSubscription", "brokers"} {
		f, ok := fits[axis]
		if !ok {
			continue
		}
		x := f.XMax
		pl.p.FittedMax = &x
		pl.why("USL fit over %s (%d points, R2 %.2f): sigma %.3f, kappa %.2g, X_max %s at N* %s", axis, f.Points, f.R2, f.Sigma.Value, f.Kappa.Value, fmtParam(f.XMax), fmtPeak(f.Peak))
		for _, n := range f.Notes {
			pl.why("fit: %s", n)
		}
		return
	}
}

// usable keeps the searches that answer this request and converts the
// target to msg/s.
func (pl *planner) usable(all []Measured) {
	q, p := pl.q, pl.p
	var noFound, unstable, strict, fan, size int
	for _, m := range all {
		switch {
		case m.Found.N == 0:
			noFound++
		case m.Found.N < m.Repetitions:
			unstable++
		case q.Objective != nil && !m.Objective.AtLeastAsStrict(*q.Objective):
			strict++
		case m.Subscriptions < q.FanOut:
			fan++
		case q.MessageSize > 0 && (m.MessageSize > 2*q.MessageSize || 2*m.MessageSize < q.MessageSize):
			size++
		default:
			pl.pts = append(pl.pts, m)
		}
	}
	if noFound > 0 {
		pl.why("%d search(es) confirmed no rate and are not used", noFound)
	}
	if unstable > 0 {
		pl.why("%d search(es) confirmed a rate in only some of their repetitions: the limit did not reproduce, so they are not used", unstable)
	}
	block := func(n int, bind, msg string) {
		if n > 0 && len(pl.pts) == 0 && p.Binding == "" {
			p.Binding = bind
			pl.why("%s", msg)
		}
	}
	block(strict, BindObjective, fmt.Sprintf("no search met an objective at least as strict as %v; rerun the searches with that maxRate.latency", q.Objective))
	block(fan, BindFanOut, fmt.Sprintf("no search had %d or more subscriptions; rerun with subscriptionsPerTopic: %d", q.FanOut, q.FanOut))
	block(size, BindMessageSize, fmt.Sprintf("no search used messages within 2x of %d B; rerun with messageSize: %d", q.MessageSize, q.MessageSize))
	if len(pl.pts) == 0 {
		if p.Binding == "" {
			p.Binding = BindNodeCeiling
			pl.why("no capacity search with a confirmed rate: nothing measured to plan from")
		}
		pl.why("not reachable with the measured setup: no usable measurement")
		return
	}
	size0 := q.MessageSize
	if size0 == 0 {
		size0 = pl.pts[0].MessageSize
	}
	p.MessageSize = size0
	p.Target = q.Target
	if q.TargetBytes {
		p.Target = q.Target / float64(size0)
		pl.why("target %s at %d B messages = %.0f msg/s", q.TargetText, size0, p.Target)
	}
	best := slices.MaxFunc(pl.pts, func(a, b Measured) int { return cmp.Compare(a.Found.Mean, b.Found.Mean) })
	p.MeasuredCeiling, p.MeasuredCeilingLow, p.SaturatedAt = best.Found.Mean, best.low(), best.Label
	pl.why("measured ceiling %s msg/s (%s) at %s under %s", fmtRate(best.Found.Mean), fmtInterval(best.Found), best.Label, best.Objective)
}

// choose picks the smallest measured setup that sustains the target with
// headroom, enough partitions for the consumers and the hot key.
func (pl *planner) choose() {
	q, p := pl.q, pl.p
	h := 1 - q.Headroom
	nodes := slices.MinFunc(pl.pts, func(a, b Measured) int { return cmp.Compare(a.Brokers, b.Brokers) }).Brokers
	if q.Replication > nodes {
		maxNodes := slices.MaxFunc(pl.pts, func(a, b Measured) int { return cmp.Compare(a.Brokers, b.Brokers) }).Brokers
		if q.Replication > maxNodes {
			p.Binding = BindReplication
			pl.why("replication factor %d needs at least %d nodes; the searches ran on at most %d: not reachable with the measured setup", q.Replication, q.Replication, maxNodes)
			return
		}
	}
	perPart := 0.0
	for _, m := range pl.pts {
		perPart = math.Max(perPart, m.low()/float64(m.Partitions)*h)
	}
	var cands []Measured
	for _, m := range pl.pts {
		if m.low()*h >= p.Target && m.Brokers >= q.Replication {
			cands = append(cands, m)
		}
	}
	slices.SortFunc(cands, func(a, b Measured) int {
		return cmp.Or(cmp.Compare(a.Brokers, b.Brokers), cmp.Compare(a.Partitions, b.Partitions), cmp.Compare(a.Producers, b.Producers))
	})
	if len(cands) == 0 {
		p.Binding = BindNodeCeiling
		pl.why("not reachable with the measured setup: the target %s msg/s needs %s msg/s of ceiling at %.0f%% headroom, above the measured %s msg/s (lower bound %s)",
			fmtRate(p.Target), fmtRate(p.Target/h), 100*q.Headroom, fmtRate(p.MeasuredCeiling), fmtRate(p.MeasuredCeilingLow))
		if f := p.FittedMax; f != nil {
			pl.why("the fitted X_max is %s msg/s: more of the swept resource on this setup %s", fmtParam(*f), fittedVerdict(*f, p.Target/h))
		}
		return
	}
	pl.why("setups sustaining the target at %.0f%% headroom (lower bound x %.2f >= %s msg/s): %s", 100*q.Headroom, h, fmtRate(p.Target), labels(cands))
	chosen, binding := pl.pick(cands, perPart)
	if chosen == nil {
		return
	}
	p.Feasible, p.Binding = true, binding
	p.Partitions, p.Producers, p.Nodes = chosen.Partitions, chosen.Producers, max(chosen.Brokers, 1)
	p.Headroom = 1 - p.Target/chosen.low()
	pl.why("recommendation: %d node(s), %d partitions, %d producer(s), measured at %s; headroom at the target %.0f%% of its lower bound %s msg/s",
		p.Nodes, p.Partitions, p.Producers, chosen.Label, 100*p.Headroom, fmtRate(chosen.low()))
}

// pick applies the consumer floor and the hot key to the candidates,
// smallest first: the answer is always a measured setup that sustained the
// target, never a partition count raised past what was measured.
func (pl *planner) pick(cands []Measured, perPart float64) (*Measured, string) {
	q, p := pl.q, pl.p
	binding := BindNone
	if cands[0].Partitions > slices.MinFunc(pl.pts, func(a, b Measured) int { return cmp.Compare(a.Partitions, b.Partitions) }).Partitions {
		binding = BindPartitionRate
	}
	need := 0
	if k := q.TopKeyShare; k > 0 {
		hot := k * p.Target
		if hot > perPart {
			p.Binding = BindHotKey
			pl.why("hot key: %.0f%% of messages on one key is %s msg/s on one partition, above the best measured per-partition rate %s msg/s (with headroom): no partition count fixes this; spread (salt) the key",
				100*k, fmtRate(hot), fmtRate(perPart))
			return nil, ""
		}
		need = int(math.Ceil((1 - k) * p.Target / (perPart - hot)))
		pl.why("hot key: %.0f%% of messages on one key; its partition stays within %s msg/s from %d partitions", 100*k, fmtRate(perPart), need)
	}
	floor := max(need, q.Consumers)
	if q.Consumers > 0 {
		pl.why("%d consumers need at least %d partitions (a partition is read by one consumer of a group)", q.Consumers, q.Consumers)
	}
	for i := range cands {
		c := &cands[i]
		if c.Partitions < floor {
			continue
		}
		switch {
		case c.Partitions > cands[0].Partitions && q.Consumers > cands[0].Partitions && q.Consumers >= need:
			binding = BindConsumers
		case c.Partitions > cands[0].Partitions && need > cands[0].Partitions:
			binding = BindHotKey
		}
		return c, binding
	}
	p.Binding = BindConsumers
	what := fmt.Sprintf("%d consumers", q.Consumers)
	if need > q.Consumers {
		p.Binding, what = BindHotKey, "the hot key"
	}
	pl.why("%s need %d or more partitions, and no measured setup with that many sustained the target: not reachable with the measured setup (measured up to %d partitions)", what, floor, maxPartitions(pl.pts))
	return nil, ""
}

// extrapolate estimates nodes from the explicit per-node model: each node
// sustains what the best measured setup sustained per node, nodes add up
// linearly, and every message is written Replication times.
func (pl *planner) extrapolate() {
	q, p := pl.q, pl.p
	best := slices.MaxFunc(pl.pts, func(a, b Measured) int { return cmp.Compare(a.Found.Mean, b.Found.Mean) })
	b := float64(max(best.Brokers, 1))
	h := 1 - q.Headroom
	nodes := func(perNode float64) int {
		if perNode <= 0 {
			return 0
		}
		return max(q.Replication, int(math.Ceil(p.Target*float64(q.Replication)/(perNode*h))))
	}
	p.Extrapolated = true
	p.Nodes = nodes(best.Found.Mean / b)
	p.NodesLow, p.NodesHigh = nodes(best.Found.High/b), nodes(best.Found.Low/b)
	if p.NodesHigh == 0 {
		p.NodesHigh = p.Nodes
	}
	pl.why("EXTRAPOLATED (--extrapolate), not measured: per-node model = %s msg/s per node (%s, from %s), nodes add linearly, each message written %d time(s): nodes = ceil(target x %d / (per-node x %.2f)) = %d (%d to %d over the found rate's interval)",
		fmtRate(best.Found.Mean/b), fmtInterval(best.Found), best.Label, q.Replication, q.Replication, h, p.Nodes, p.NodesLow, p.NodesHigh)
	pl.why("linear scaling across nodes is an assumption: measure a brokers sweep (maxRate.brokers) before buying hardware")
}

func maxPartitions(pts []Measured) int {
	return slices.MaxFunc(pts, func(a, b Measured) int { return cmp.Compare(a.Partitions, b.Partitions) }).Partitions
}

func labels(ms []Measured) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += ", "
		}
		s += m.Label
	}
	return s
}

func fittedVerdict(f Param, need float64) string {
	if f.High < need {
		return "would not reach it either (the fit's interval is below the need)"
	}
	return "might reach it, but the fit is a model, not a measurement: measure that setup"
}

func fmtRate(v float64) string {
	if math.IsInf(v, 1) {
		return "unbounded"
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtInterval(s stats.Summary) string {
	if !s.HasInterval() {
		return fmt.Sprintf("%d repetition, no interval", s.N)
	}
	return fmt.Sprintf("95%% CI %s-%s over %d repetitions", fmtRate(s.Low), fmtRate(s.High), s.N)
}

func fmtParam(p Param) string {
	if p.Low == p.High {
		return fmtRate(p.Value)
	}
	return fmt.Sprintf("%s [%s, %s]", fmtRate(p.Value), fmtRate(p.Low), fmtRate(p.High))
}

func fmtPeak(p Param) string {
	if math.IsInf(p.Value, 1) {
		return "none (kappa = 0)"
	}
	if p.Low == p.High {
		return fmt.Sprintf("%.1f", p.Value)
	}
	hi := fmt.Sprintf("%.1f", p.High)
	if math.IsInf(p.High, 1) {
		hi = "unbounded"
	}
	return fmt.Sprintf("%.1f [%.1f, %s]", p.Value, p.Low, hi)
}
