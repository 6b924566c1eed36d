package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/share"
)

// ShareGroupHeartbeat: v0-1 (KIP-932; the range share.Versions declares)
//
// Behavior:
// * Delegated to refbroker/share. MemberEpoch 0 joins (creating the
//   group), -1 leaves and releases the member's acquired records, any
//   other epoch must be the member's current or previous one
//   (FENCED_MEMBER_EPOCH otherwise, UNKNOWN_MEMBER_ID for a member the
//   group does not know).
// * Assignment: every member gets every partition of every subscribed
//   topic that exists. It is sent on a join, on a full heartbeat (with
//   SubscribedTopicNames) and whenever it changed (a topic created or
//   grown), with a new member epoch.
// * A member that does not heartbeat within the session timeout (45s) is
//   removed and its records are released.
// * Share and classic groups live in separate namespaces here: a share
//   group may reuse a classic group's ID.
//
// Version notes:
// * v1: no protocol change (KIP-932 GA)

func init() {
	lo, hi := shareVersions(kmsg.ShareGroupHeartbeat)
	regKey(apiKey{
		key:    kmsg.ShareGroupHeartbeat,
		min:    lo,
		max:    hi,
		handle: handleShareGroupHeartbeat,
		wait:   answersPromptly,
		frame:  keepsFrame,
		unsupported: []string{
			"RackID is recorded but not used (the assignor is rack-unaware)",
			"group-type exclusivity: a share group may reuse a classic group's ID (Kafka answers GROUP_ID_NOT_FOUND)",
		},
	})
}

func handleShareGroupHeartbeat(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ShareGroupHeartbeatRequest)
	return cc.b.shares.Heartbeat(req, share.ClientInfo{ClientID: cc.clientID, Host: cc.remote}), nil
}
