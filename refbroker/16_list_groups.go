package refbroker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// ListGroups: v0-5 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group.
//
// Version notes:
// * v4+: StatesFilter; v5+: TypesFilter (classic groups only).

func init() {
	regGroupKey(apiKey{
		key:         kmsg.ListGroups,
		authorize:   aclListGroups,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: allSupported,
	}, (*group.Coordinator).ListGroups)
}

// aclListGroups lists only the groups the principal has group on.
func aclListGroups(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	r, err := serve(ctx, cc, kreq)
	if err != nil || r == nil {
		return r, err
	}
	resp := r.(*kmsg.ListGroupsResponse)
	resp.Groups = slices.DeleteFunc(resp.Groups, func(g kmsg.ListGroupsResponseGroup) bool {
		return !cc.may(opGroup, resGroup, g.Group)
	})
	return resp, nil
}
