package refbroker

import (
	"context"

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
	return serveAllowed(ctx, cc, req, serve, &req.Groups, func(g string) (kmsg.DescribeGroupsResponseGroup, bool) {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		return rg, !cc.may(opGroup, resGroup, g)
	}, func(r *kmsg.DescribeGroupsResponse) *[]kmsg.DescribeGroupsResponseGroup { return &r.Groups })
}
