package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// LeaveGroup: v0-5 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group.
//
// Version notes:
// * v3+: batched members.

func init() {
	regGroupKey(apiKey{
		key:         kmsg.LeaveGroup,
		authorize:   aclLeaveGroup,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: allSupported,
	}, (*group.Coordinator).LeaveGroup)
}

// aclLeaveGroup: needs group on the group, else GROUP_AUTHORIZATION_FAILED.
func aclLeaveGroup(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	if cc.may(opGroup, resGroup, req.Group) {
		return serve(ctx, cc, req)
	}
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	return resp, nil
}
