package refbroker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// SyncGroup: v0-5 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group. Followers block until the leader's
//   SyncGroup arrives; cancelled like JoinGroup.
//
// Version notes:
// * v5: ProtocolType and ProtocolName checked.

func init() {
	regGroupKey(apiKey{
		key:         kmsg.SyncGroup,
		wait:        mayBlock,
		frame:       keepsFrame,
		unsupported: allSupported,
	}, (*group.Coordinator).SyncGroup)
}
