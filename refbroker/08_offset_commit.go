package refbroker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// OffsetCommit: v0-9 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group, which persists committed offsets in
//   DataDir/groups. A commit to a topic or partition that does not exist
//   is UNKNOWN_TOPIC_OR_PARTITION for that partition, as in Kafka.
//
// Version notes:
// * v10 (topic IDs) is not served; the coordinator keys offsets by name.

func init() {
	regGroupKey(apiKey{
		key:         kmsg.OffsetCommit,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: []string{"topic IDs (v10+ not advertised)"},
	}, (*group.Coordinator).OffsetCommit)
}
