package refbroker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// DescribeGroups: v0-6 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group.
//
// Version notes:
// * v3+: AuthorizedOperations is not computed (no ACLs).

func init() {
	regGroupKey(apiKey{
		key:         kmsg.DescribeGroups,
		authorize:   aclDescribeGroups,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: []string{"AuthorizedOperations (not computed)"},
	}, (*group.Coordinator).DescribeGroups)
}

// aclDescribeGroups: each group needs group on it, else its entry is
// GROUP_AUTHORIZATION_FAILED.
func aclDescribeGroups(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	var denied []kmsg.DescribeGroupsResponseGroup
	req.Groups = slices.DeleteFunc(req.Groups, func(g string) bool {
		if cc.may(opGroup, resGroup, g) {
			return false
		}
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		denied = append(denied, rg)
		return true
	})
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	if len(req.Groups) > 0 || len(denied) == 0 {
		r, err := serve(ctx, cc, req)
		if err != nil || r == nil {
			return r, err
		}
		resp = r.(*kmsg.DescribeGroupsResponse)
	}
	resp.Groups = append(resp.Groups, denied...)
	return resp, nil
}
