package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
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
		authorize:   aclSyncGroup,
		wait:        mayBlock,
		frame:       keepsFrame,
		unsupported: allSupported,
	}, (*group.Coordinator).SyncGroup)
}

// aclSyncGroup: needs group on the group, else GROUP_AUTHORIZATION_FAILED.
func aclSyncGroup(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	if cc.may(opGroup, resGroup, req.Group) {
		return serve(ctx, cc, req)
	}
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	return resp, nil
}
