package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// JoinGroup: v0-9 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group. Blocks until the rebalance completes;
//   the connection closing or the broker stopping abandons the join and
//   closes the connection without a response.
// * This node is the coordinator of every group.
//
// Version notes:
// * v4+: MEMBER_ID_REQUIRED first join (KIP-394); v5+: static members.

func init() {
	regGroupKey(apiKey{
		key:         kmsg.JoinGroup,
		authorize:   aclJoinGroup,
		wait:        mayBlock,
		frame:       keepsFrame,
		unsupported: []string{"KIP-848 protocol is separate (ConsumerGroupHeartbeat is not served)"},
	}, (*group.Coordinator).JoinGroup)
}

// aclJoinGroup: joining needs group on the group, else GROUP_AUTHORIZATION_FAILED.
func aclJoinGroup(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	if cc.may(opGroup, resGroup, req.Group) {
		return serve(ctx, cc, req)
	}
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	return resp, nil
}
