package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ShareAcknowledge: v0-2 (KIP-932, KIP-1222; the range share.Versions declares)
//
// Behavior:
// * Delegated to refbroker/share, within the member's share session on
//   this connection (opened by ShareFetch): epoch 0 gets
//   INVALID_SHARE_SESSION_EPOCH, an unknown session
//   SHARE_SESSION_NOT_FOUND, a stale epoch INVALID_SHARE_SESSION_EPOCH;
//   -1 applies the acknowledgements and closes the session, releasing the
//   member's remaining records on its partitions.
// * Types: 0 gap and 3 reject archive, 1 accept acknowledges, 2 release
//   makes the record available again (archived at the delivery limit), 4
//   renew (v2 with IsRenewAck) restarts the lock. Each partition's
//   batches apply atomically and are persisted before the response: a
//   record not acquired by this member gets INVALID_RECORD_STATE and
//   nothing of that partition changes; malformed batches get
//   INVALID_REQUEST.
//
// Version notes:
// * v1: no protocol change (KIP-932 GA)
// * v2: IsRenewAck, acknowledge type 4 (KIP-1222), AcquisitionLockTimeoutMillis

func init() {
	lo, hi := shareVersions(kmsg.ShareAcknowledge)
	regKey(apiKey{
		key:         kmsg.ShareAcknowledge,
		authorize:   aclShareAcknowledge,
		min:         lo,
		max:         hi,
		handle:      handleShareAcknowledge,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: allSupported,
	})
}

func handleShareAcknowledge(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	return cc.b.shares.Acknowledge(cc, kreq.(*kmsg.ShareAcknowledgeRequest)), nil
}

// aclShareAcknowledge: as aclShareFetch.
func aclShareAcknowledge(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.ShareAcknowledgeRequest)
	ids := make([][16]byte, len(req.Topics))
	for i, t := range req.Topics {
		ids[i] = t.TopicID
	}
	if code := shareDenial(cc, req.GroupID, ids); code != 0 {
		resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
		resp.ErrorCode = code
		return resp, nil
	}
	return serve(ctx, cc, req)
}
