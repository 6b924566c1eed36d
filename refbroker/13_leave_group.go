package refbroker

import "github.com/brokerbench/brokerbench/refbroker/group"

// LeaveGroup: v0-5 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group.
//
// Version notes:
// * v3+: batched members.

func init() { regGroupKey(13, (*group.Coordinator).LeaveGroup) }
