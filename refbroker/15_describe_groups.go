package refbroker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// DescribeGroups: v0-6 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group.
//
// Version notes:
// * v3+: AuthorizedOperations is not computed (no ACLs).

func init() {
	regGroupKey(apiKey{
		key:         kmsg.DescribeGroups,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: []string{"AuthorizedOperations (not computed)"},
	}, (*group.Coordinator).DescribeGroups)
}
