package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ShareGroupDescribe: v0-1 (KIP-932; the range share.Versions declares)
//
// Behavior:
// * Delegated to refbroker/share. Each group's state is Empty (no
//   members) or Stable (the assignor never needs a rebalance); GroupEpoch
//   and AssignmentEpoch are equal; Assignor is "simple".
// * Unknown groups get GROUP_ID_NOT_FOUND with state Dead.
//
// Version notes:
// * v1: no protocol change (KIP-932 GA)

func init() {
	lo, hi := shareVersions(kmsg.ShareGroupDescribe)
	regKey(apiKey{
		key:         kmsg.ShareGroupDescribe,
		authorize:   aclShareGroupDescribe,
		min:         lo,
		max:         hi,
		handle:      handleShareGroupDescribe,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: []string{"IncludeAuthorizedOperations (AuthorizedOperations is always INT32_MIN)"},
	})
}

func handleShareGroupDescribe(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	return cc.b.shares.Describe(kreq.(*kmsg.ShareGroupDescribeRequest)), nil
}

// aclShareGroupDescribe: each group needs group on it, else its entry is
// GROUP_AUTHORIZATION_FAILED.
func aclShareGroupDescribe(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.ShareGroupDescribeRequest)
	return serveAllowed(ctx, cc, req, serve, &req.GroupIDs, func(g string) (kmsg.ShareGroupDescribeResponseGroup, bool) {
		rg := kmsg.NewShareGroupDescribeResponseGroup()
		rg.GroupID, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		return rg, !cc.may(opGroup, resGroup, g)
	}, func(r *kmsg.ShareGroupDescribeResponse) *[]kmsg.ShareGroupDescribeResponseGroup { return &r.Groups })
}
