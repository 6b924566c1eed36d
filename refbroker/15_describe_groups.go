package refbroker

import "github.com/brokerbench/brokerbench/refbroker/group"

// DescribeGroups: v0-6 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group.
//
// Version notes:
// * v3+: AuthorizedOperations is not computed (no ACLs).

func init() { regGroupKey(15, (*group.Coordinator).DescribeGroups) }
