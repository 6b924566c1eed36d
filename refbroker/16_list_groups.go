package refbroker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// ListGroups: v0-5 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group.
//
// Version notes:
// * v4+: StatesFilter; v5+: TypesFilter (classic groups only).

func init() {
	regGroupKey(apiKey{
		key:         kmsg.ListGroups,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: allSupported,
	}, (*group.Coordinator).ListGroups)
}
