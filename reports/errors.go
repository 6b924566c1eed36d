package reports

import "errors"

// Sentinel errors. Callers test them with errors.Is; the messages wrapping
// them say which file, flag or value was wrong.
var (
	// ErrNoResults: an input folder held no result file, or every input
	// folder together held none.
	ErrNoResults = errors.New("no result files")
	// ErrBadThroughput: a throughput value such as "500MB/s" could not be
	// parsed or was not positive.
	ErrBadThroughput = errors.New("bad throughput")
	// ErrBadPlan: a planning input (headroom, consumers, message size) is
	// out of range.
	ErrBadPlan = errors.New("bad plan input")
	// ErrNoCapacity: no capacity-search result (a maxRate workload) was
	// found, so there is no measured ceiling to plan from.
	ErrNoCapacity = errors.New("no capacity-search results")
	// ErrBadBaseline: Options.Baseline names no result set, system or
	// series of the inputs.
	ErrBadBaseline = errors.New("bad baseline")
)
