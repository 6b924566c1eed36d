package refbroker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
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
		key:       kmsg.ShareGroupHeartbeat,
		authorize: aclShareGroupHeartbeat,
		min:       lo,
		max:       hi,
		handle:    handleShareGroupHeartbeat,
		wait:      answersPromptly,
		frame:     keepsFrame,
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

// aclShareGroupHeartbeat: needs group on the group
// (GROUP_AUTHORIZATION_FAILED) and consume on every subscribed topic
// (TOPIC_AUTHORIZATION_FAILED).
func aclShareGroupHeartbeat(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.ShareGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	switch {
	case !cc.may(opGroup, resGroup, req.GroupID):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	case slices.ContainsFunc(req.SubscribedTopicNames, func(t string) bool { return !cc.may(opConsume, resTopic, t) }):
		resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
	default:
		return serve(ctx, cc, req)
	}
	return resp, nil
}
