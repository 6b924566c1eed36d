package refbroker

import "github.com/brokerbench/brokerbench/refbroker/group"

// OffsetCommit: v0-9 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group, which persists committed offsets in
//   DataDir/groups. Commits for unknown topics are stored, as Kafka does
//   for simple (non-member) commits.
//
// Version notes:
// * v10 (topic IDs) is not served; the coordinator keys offsets by name.

func init() { regGroupKey(8, (*group.Coordinator).OffsetCommit) }
