// Package capacity holds the pure parts of capacity planning: the
// SLO-bounded saturation search ([Search]), the verdict on one probe
// ([Judge]), the Universal Scalability Law fit of a concurrency sweep
// ([FitUSL]) and the planning model ([MakePlan]). It does no I/O: the
// suite runs the probes (suite/search.go) and records a [Record] in the
// result file; reports and `brokerbench plan` read it back.
//
// The main types are [Objective] (the latency objective a rate must meet),
// [Probe] (one offered rate and its verdict), [Record] (a search across
// repetitions), [Fit] (σ, κ, λ with intervals, N* and X_max) and [Plan]
// (nodes, partitions, producers, what binds, and why).
//
// docs/capacity.md explains the method, its assumptions and its limits.
package capacity
