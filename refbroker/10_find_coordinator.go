package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-6
//
// Behavior:
// * This node coordinates every consumer group (CoordinatorType 0), at the
//   advertised address.
// * Transaction (1) and share-group (2) coordinators do not exist here:
//   INVALID_REQUEST with an explanatory ErrorMessage, so clients fail
//   fast instead of retrying COORDINATOR_NOT_AVAILABLE forever.
//
// Version notes:
// * v1: CoordinatorType, ErrorMessage
// * v3: flexible
// * v4: batched CoordinatorKeys (KIP-699), per-key errors
// * v5-6: no changes for group keys

func init() {
	regKey(apiKey{
		key:         kmsg.FindCoordinator,
		authorize:   aclFindCoordinator,
		min:         0,
		max:         6,
		handle:      handleFindCoordinator,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: []string{"transaction (1) and share (2) coordinator types: INVALID_REQUEST"},
	})
}

func handleFindCoordinator(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	b := cc.b
	code, msg := int16(0), ""
	if req.CoordinatorType != 0 {
		code, msg = kerr.InvalidRequest.Code, "refbroker only has group coordinators (no transactions, no share groups)"
	}
	if req.Version < 4 {
		resp.ErrorCode = code
		if code != 0 {
			resp.NodeID, resp.Port = -1, -1
			if req.Version >= 1 {
				resp.ErrorMessage = &msg
			}
			return resp, nil
		}
		resp.NodeID, resp.Host, resp.Port = b.cfg.NodeID, b.adv.host, b.adv.port
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		if code != 0 {
			c.NodeID, c.Port, c.ErrorCode = -1, -1, code
			m := msg
			c.ErrorMessage = &m
		} else {
			c.NodeID, c.Host, c.Port = b.cfg.NodeID, b.adv.host, b.adv.port
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp, nil
}

// aclFindCoordinator: a group's coordinator needs group on the group
// (GROUP_AUTHORIZATION_FAILED); other key types pass to the handler.
func aclFindCoordinator(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	switch {
	case req.CoordinatorType != 0:
		return serve(ctx, cc, req)
	case req.Version < 4 && cc.may(opGroup, resGroup, req.CoordinatorKey):
		return serve(ctx, cc, req)
	case req.Version < 4:
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode, resp.NodeID = kerr.GroupAuthorizationFailed.Code, -1
		return resp, nil
	}
	return serveAllowed(ctx, cc, req, serve, &req.CoordinatorKeys, func(g string) (kmsg.FindCoordinatorResponseCoordinator, bool) {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.ErrorCode = g, -1, kerr.GroupAuthorizationFailed.Code
		return c, !cc.may(opGroup, resGroup, g)
	}, func(r *kmsg.FindCoordinatorResponse) *[]kmsg.FindCoordinatorResponseCoordinator {
		return &r.Coordinators
	})
}
