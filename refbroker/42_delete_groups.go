package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// DeleteGroups: v0-3 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group: only empty groups can be deleted.
//
// Version notes:
// * v2: flexible.

func init() {
	regGroupKey(apiKey{
		key:         kmsg.DeleteGroups,
		authorize:   aclDeleteGroups,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: allSupported,
	}, (*group.Coordinator).DeleteGroups)
}

// aclDeleteGroups: each group needs group on it, else its entry is
// GROUP_AUTHORIZATION_FAILED.
func aclDeleteGroups(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	return serveAllowed(ctx, cc, req, serve, &req.Groups, func(g string) (kmsg.DeleteGroupsResponseGroup, bool) {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		return rg, !cc.may(opGroup, resGroup, g)
	}, func(r *kmsg.DeleteGroupsResponse) *[]kmsg.DeleteGroupsResponseGroup { return &r.Groups })
}
