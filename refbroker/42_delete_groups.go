package refbroker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// DeleteGroups: v0-3 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group: only empty groups can be deleted.
//
// Version notes:
// * v2: flexible.

func init() {
	regGroupKey(apiKey{
		key:         kmsg.DeleteGroups,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: allSupported,
	}, (*group.Coordinator).DeleteGroups)
}
