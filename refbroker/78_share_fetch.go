package refbroker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/share"
	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// ShareFetch: v0-2 (KIP-932, KIP-1222; the range share.Versions declares)
//
// Behavior:
// * Share sessions are keyed by (group, member, connection). Epoch 0
//   opens one (replacing the member's previous session on this
//   connection; acknowledgements are refused with INVALID_REQUEST), a
//   positive epoch must equal the session's (INVALID_SHARE_SESSION_EPOCH,
//   SHARE_SESSION_NOT_FOUND) and adds Topics / removes
//   ForgottenTopicsData, -1 applies the acknowledgements and closes the
//   session, releasing the member's records on its partitions. Closing
//   the connection closes its sessions the same way.
// * Piggybacked acknowledgements are applied (and persisted) first; their
//   per-partition result is AcknowledgeErrorCode.
// * Then up to MaxRecords (default 500) available records are acquired
//   across the session's partitions, rotating the first partition by
//   epoch, locked for the lock duration (AcquisitionLockTimeoutMillis),
//   with their delivery counts. Records are returned as the stored
//   batches covering the acquired offsets; the client keeps only acquired
//   offsets. A record at the delivery limit is archived instead.
// * With nothing acquired, waits up to MaxWaitMillis for a produce to a
//   session partition or for records to be released, expire or be
//   acknowledged. The response has an entry for every session partition.
// * A partition's start offset is set on its first fetch by the group's
//   share.auto.offset.reset (latest by default, or earliest).
//
// Version notes:
// * v1: MaxRecords, BatchSize, AcquisitionLockTimeoutMillis
// * v2: ShareAcquireMode, IsRenewAck (acknowledge type 4 renews a lock;
//   no fetch happens)

func init() {
	lo, hi := shareVersions(kmsg.ShareFetch)
	regKey(apiKey{
		key:       kmsg.ShareFetch,
		authorize: aclShareFetch,
		min:       lo,
		max:       hi,
		handle:    handleShareFetch,
		wait:      mayBlock,
		frame:     keepsFrame,
		unsupported: []string{
			"MinBytes, MaxBytes and PartitionMaxBytes: acquisition is bounded by MaxRecords only",
			"BatchSize and ShareAcquireMode (acquisition is record-granular, i.e. RECORD_LIMIT)",
			"share.isolation.level (no transactions)",
		},
	})
}

// shareReadChunk is the bytes asked of the log per read while collecting
// the batches of acquired records.
const shareReadChunk = 1 << 20

func handleShareFetch(ctx context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ShareFetchRequest)
	sc := cc.b.shares
	resp, f := sc.StartFetch(cc, req)
	if f == nil {
		return resp, nil
	}
	var deadline <-chan time.Time
	if req.MaxWaitMillis > 0 {
		t := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
		defer t.Stop()
		deadline = t.C
	}
	for {
		// Take every wake-up channel before looking, so a produce or
		// release between the look and the wait is not missed.
		waits := []<-chan struct{}{sc.Changed()}
		for _, p := range f.Partitions() {
			if l := cc.b.shareLog(p); l != nil {
				waits = append(waits, l.Wait())
			}
		}
		acq, live := sc.Acquire(f)
		if len(acq) > 0 || !live || deadline == nil {
			for _, a := range acq {
				f.SetRecords(a, cc.b.readShareBatches(a))
			}
			return f.Response(), nil
		}
		if !waitAny(ctx, deadline, waits) {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: share fetch abandoned: %w", errCloseConn, context.Cause(ctx))
			}
			deadline = nil // timed out: one last pass answers with what is there
		}
	}
}

// shareLog returns the log of a share session partition, or nil.
func (b *Broker) shareLog(p share.FetchPartition) *storage.Log {
	tp := b.topics.lookupID(p.TopicID)
	if tp == nil || p.Partition < 0 || int(p.Partition) >= len(tp.parts) {
		return nil
	}
	return tp.parts[p.Partition]
}

// readShareBatches copies the stored batches covering [a.First, a.Last].
// It copies rather than lending the mapping: share fetches are not the
// throughput path, and a copy needs no release hook on the connection.
// Records the log no longer holds (retention raced the fetch) are simply
// missing; their locks expire.
func (b *Broker) readShareBatches(a share.Acquired) []byte {
	l := b.shareLog(share.FetchPartition{TopicID: a.TopicID, Partition: a.Partition})
	if l == nil {
		return nil
	}
	var out []byte
	for off := a.First; off <= a.Last; {
		rr, err := l.Read(off, shareReadChunk)
		if err != nil {
			if !errors.Is(err, storage.ErrOffsetOutOfRange) && !errors.Is(err, storage.ErrClosed) {
				b.log.Warn("refbroker: read share-fetch batches", "offset", off, "err", err)
			}
			return out
		}
		data := rr.Data
		if len(data) == 0 {
			rr.Release()
			return out
		}
		out = append(out, data...)
		next, ok := storage.NextOffsetAfter(data)
		rr.Release()
		if !ok || next <= off {
			return out
		}
		off = next
	}
	return out
}

// aclShareFetch: needs group on the group (GROUP_AUTHORIZATION_FAILED)
// and consume on every topic named (TOPIC_AUTHORIZATION_FAILED), both
// as the top-level error.
func aclShareFetch(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.ShareFetchRequest)
	ids := make([][16]byte, len(req.Topics))
	for i, t := range req.Topics {
		ids[i] = t.TopicID
	}
	if code := shareDenial(cc, req.GroupID, ids); code != 0 {
		resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
		resp.ErrorCode = code
		return resp, nil
	}
	return serve(ctx, cc, req)
}

// shareDenial is the top-level authorization error of a ShareFetch or
// ShareAcknowledge: group on the group, consume on every topic; 0 when
// allowed.
func shareDenial(cc *conn, group *string, topicIDs [][16]byte) int16 {
	if !cc.may(opGroup, resGroup, derefOr(group, "")) {
		return kerr.GroupAuthorizationFailed.Code
	}
	for _, id := range topicIDs {
		if !cc.may(opConsume, resTopic, cc.topicName("", id)) {
			return kerr.TopicAuthorizationFailed.Code
		}
	}
	return 0
}
