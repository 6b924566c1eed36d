package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// Heartbeat: v0-4 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group.
//
// Version notes:
// * v3+: GroupInstanceID.

func init() {
	regGroupKey(apiKey{
		key:         kmsg.Heartbeat,
		authorize:   aclHeartbeat,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: allSupported,
	}, (*group.Coordinator).Heartbeat)
}

// aclHeartbeat: needs group on the group, else GROUP_AUTHORIZATION_FAILED.
func aclHeartbeat(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	if cc.may(opGroup, resGroup, req.Group) {
		return serve(ctx, cc, req)
	}
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	return resp, nil
}
