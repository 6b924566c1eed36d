package refbroker

import "github.com/brokerbench/brokerbench/refbroker/group"

// SyncGroup: v0-5 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group. Followers block until the leader's
//   SyncGroup arrives; cancelled like JoinGroup.
//
// Version notes:
// * v5: ProtocolType and ProtocolName checked.

func init() { regGroupKey(14, (*group.Coordinator).SyncGroup) }
