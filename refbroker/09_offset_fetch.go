package refbroker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// OffsetFetch: v0-9 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group; unknown partitions answer offset -1.
//
// Version notes:
// * v8+: batched groups. v10 (topic IDs) is not served.

func init() {
	regGroupKey(apiKey{
		key:         kmsg.OffsetFetch,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: []string{"topic IDs (v10+ not advertised)"},
	}, (*group.Coordinator).OffsetFetch)
}
