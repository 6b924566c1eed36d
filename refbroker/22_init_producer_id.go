package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerID: v0-5
//
// Behavior:
// * Idempotent (non-transactional) producers get a fresh producer ID with
//   epoch 0 on every call. IDs are reserved on disk in blocks, and the
//   broker also starts above the largest ID any log holds, so an ID is
//   never reused across restarts.
// * A TransactionalID is refused with INVALID_REQUEST: refbroker has no
//   transaction coordinator, and a non-retriable code makes a
//   transactional client fail fast instead of retrying forever.
// * TransactionTimeoutMillis is ignored.
//
// Version notes:
// * v2: flexible
// * v3: ProducerID/ProducerEpoch of an existing producer (KIP-360): a new
//   ID is handed out anyway, which an idempotent producer accepts
// * v4-5: no request changes for idempotent producers

func init() {
	regKey(apiKey{
		key:       kmsg.InitProducerID,
		authorize: aclInitProducerID,
		min:       0,
		max:       5,
		handle:    handleInitProducerID,
		wait:      answersPromptly,
		frame:     keepsFrame,
		unsupported: []string{
			"TransactionalID (INVALID_REQUEST): no transactions",
			"KIP-360 epoch bump: a new producer ID is always returned",
			"TransactionTimeoutMillis",
		},
	})
}

func handleInitProducerID(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	id, err := cc.b.topics.nextProducerID()
	if err != nil {
		cc.b.log.Error("refbroker: allocate producer ID", "err", err)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}

// aclInitProducerID: an idempotent producer ID needs produce on some
// topic (Kafka 3.0+ accepts that for IdempotentWrite on the cluster),
// else CLUSTER_AUTHORIZATION_FAILED.
func aclInitProducerID(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	if req.TransactionalID != nil || cc.b.aclsOrNil().producesAnything(cc.auth.principal) {
		return serve(ctx, cc, req)
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = kerr.ClusterAuthorizationFailed.Code, -1, -1
	return resp, nil
}
