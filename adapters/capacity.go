package adapters

import "context"

// LoadPlan is what a run plans to store, for a [CapacityWarner].
type LoadPlan struct {
	// Topic is one of the run's topics (every topic is created alike),
	// already created.
	Topic string
	// Topics is how many topics the run uses; Partitions is per topic.
	Topics, Partitions int
	// MessageSize is the payload size in bytes.
	MessageSize int
	// Messages is how many messages the run plans to publish over all
	// topics (rate times warm-up plus measurement, plus any backlog); 0
	// when unknown (a max-rate run).
	Messages int64
}

// CapacityWarner is implemented by adapters that can tell before a run
// that the system may not hold what the run plans to store (Redis keeps
// every stream entry in memory, bounded by maxmemory). The warnings go to
// the log and the result (results Meta.Warnings); they do not stop the
// run.
type CapacityWarner interface {
	CapacityWarnings(ctx context.Context, plan LoadPlan) ([]string, error)
}
