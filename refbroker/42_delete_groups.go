package refbroker

import (
	"context"
	"slices"

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
	var denied []kmsg.DeleteGroupsResponseGroup
	req.Groups = slices.DeleteFunc(req.Groups, func(g string) bool {
		if cc.may(opGroup, resGroup, g) {
			return false
		}
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		denied = append(denied, rg)
		return true
	})
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	if len(req.Groups) > 0 || len(denied) == 0 {
		r, err := serve(ctx, cc, req)
		if err != nil || r == nil {
			return r, err
		}
		resp = r.(*kmsg.DeleteGroupsResponse)
	}
	resp.Groups = append(resp.Groups, denied...)
	return resp, nil
}
