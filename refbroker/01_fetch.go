package refbroker

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// Fetch: v4-18
//
// Behavior:
// * Returns whole record batches starting with the one that holds
//   FetchOffset, read from one log segment per partition per response, as
//   opaque bytes (no record decoding, no down-conversion).
// * The first partition with data gets at least one whole batch even if it
//   exceeds PartitionMaxBytes or MaxBytes (KIP-74); later partitions only
//   get data that fits in what is left of MaxBytes.
// * Long poll: if fewer than MinBytes are ready, waits up to MaxWaitMillis
//   and wakes as soon as any requested partition is appended to; returns
//   at once if any partition has an error.
// * HighWatermark = LastStableOffset = log end offset (one replica, no
//   transactions); LogStartOffset from storage; OFFSET_OUT_OF_RANGE outside
//   [LogStartOffset, HighWatermark].
// * Fetch sessions (KIP-227) are not kept: SessionID 0 (full fetch) is
//   answered with SessionID 0, which tells the client no session exists
//   and it keeps sending full fetches; a non-zero SessionID is answered
//   with FETCH_SESSION_ID_NOT_FOUND. ForgottenTopics are therefore moot.
// * MaxBytes is capped by Config.MaxFetchBytes (Kafka's broker-side
//   fetch.max.bytes, 55 MiB); the first batch may still exceed it.
// * A partition named more than once (in one topic entry or in several)
//   is answered once, as Kafka collapses repeats.
// * Every partition carries a non-null records field, empty when there is
//   no data or an error, as Kafka sends (librdkafka rejects null).
// * IsolationLevel is accepted; both levels see the same data because
//   there are no transactions.
//
// Version notes:
// * v4: IsolationLevel, LastStableOffset, AbortedTransactions (always none)
// * v5: LogStartOffset
// * v7: sessions (see above)
// * v9: CurrentLeaderEpoch: 0 and -1 accepted, > 0 is UNKNOWN_LEADER_EPOCH
// * v11: Rack ignored, PreferredReadReplica always -1
// * v12: flexible; LastFetchedEpoch ignored (the epoch never changes)
// * v13: TopicID instead of names; unknown ID is UNKNOWN_TOPIC_ID
// * v15-18: ReplicaState, ReplicaDirectoryID, HighWatermark tag are
//   broker-to-broker fields and are ignored

func init() {
	regKey(apiKey{
		key:       kmsg.Fetch,
		authorize: aclFetch,
		min:       4,
		max:       18,
		handle:    handleFetch,
		wait:      mayBlock,
		frame:     releasesFrame,
		encode:    appendFetchResponse,
		unsupported: []string{
			"fetch sessions (KIP-227): SessionID is always 0, non-zero IDs get FETCH_SESSION_ID_NOT_FOUND, ForgottenTopics ignored",
			"IsolationLevel read_committed has no effect (no transactions)",
			"Rack / PreferredReadReplica (always -1), LastFetchedEpoch, DivergingEpoch",
			"ReplicaID, ReplicaState, ReplicaDirectoryID (broker-to-broker fields)",
		},
	})
}

func handleFetch(ctx context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	if req.Version >= 7 && req.SessionID != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	// The first pass reads without arming the long poll: when data is
	// there, as for a consumer catching up, the fetch costs no timer and
	// no wake-up channels (which the next append would have to close).
	wait := req.MaxWaitMillis > 0 && req.MinBytes > 0
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		f := fetcher{b: cc.b, req: req, collectWaits: timer != nil && wait}
		resp := f.run()
		if !wait || f.bytes >= int(req.MinBytes) || f.hasError {
			// The response aliases the reads until it is written:
			// the connection releases them after the write.
			cc.pending.hold(f.views)
			return resp, nil
		}
		f.release()
		if timer == nil {
			// Arm the long poll and pass again, now collecting the
			// partitions' wake-up channels before reading their high
			// watermarks, so that no append in between is missed.
			timer = time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
			continue
		}
		cc.b.fetchWaiters.Add(1)
		woken := waitAny(ctx, timer.C, f.waits)
		cc.b.fetchWaiters.Add(-1)
		if !woken {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			wait = false // timed out: one last pass answers with what is there
		}
	}
}

// waitAny blocks until one channel in waits is closed (true), or deadline
// fires or ctx is done (false).
func waitAny(ctx context.Context, deadline <-chan time.Time, waits []<-chan struct{}) bool {
	if len(waits) == 1 { // the common case, without reflection
		select {
		case <-waits[0]:
			return true
		case <-deadline:
		case <-ctx.Done():
		}
		return false
	}
	cases := make([]reflect.SelectCase, 0, len(waits)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(deadline)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, w := range waits {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 2
}

// fetcher builds one pass of a fetch response.
type fetcher struct {
	b            *Broker
	req          *kmsg.FetchRequest
	collectWaits bool

	bytes    int  // record bytes in the response so far
	hasError bool // some partition has an error: answer now
	waits    []<-chan struct{}
	views    []*storage.ReadResult
	seen     map[partKey]struct{} // partitions answered, for large requests
}

// partKey names a partition of a topic in one fetch.
type partKey struct {
	tp *topic
	p  int32
}

// release unmaps the log views the response aliases.
func (f *fetcher) release() {
	for _, v := range f.views {
		v.Release()
	}
	f.views = f.views[:0]
}

// run reads every requested partition into a response.
func (f *fetcher) run() *kmsg.FetchResponse {
	resp := f.req.ResponseKind().(*kmsg.FetchResponse)
	// The broker's fetch.max.bytes caps what a client may ask for, so no
	// request can make a response of gigabytes.
	budget := int(min(f.req.MaxBytes, f.b.cfg.MaxFetchBytes))
	resp.Topics = make([]kmsg.FetchResponseTopic, 0, len(f.req.Topics))
	for i := range f.req.Topics {
		rt := &f.req.Topics[i]
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		tp, code := f.resolve(rt)
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, 0, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			if code == 0 && f.duplicate(tp, rp.Partition) {
				continue // answered once, as Kafka collapses repeats
			}
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			if code != 0 {
				sp.ErrorCode = code
			} else {
				budget -= f.partition(tp, rp, budget, &sp)
			}
			if sp.ErrorCode != 0 {
				f.hasError = true
			}
			if sp.RecordBatches == nil {
				// Never null: librdkafka rejects a null records field
				// ("invalid MessageSetSize -1"), never reaches end of
				// partition and never applies auto.offset.reset;
				// Kafka sends an empty one.
				sp.RecordBatches = []byte{}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// duplicate reports whether tp's partition p was already named in this
// fetch, remembering it otherwise. Without this a request naming one
// partition many times got its data many times over (a 347-byte request
// returned 599 MB).
func (f *fetcher) duplicate(tp *topic, p int32) bool {
	if f.seen == nil {
		f.seen = make(map[partKey]struct{})
	}
	k := partKey{tp, p}
	if _, ok := f.seen[k]; ok {
		return true
	}
	f.seen[k] = struct{}{}
	return false
}

// resolve finds a fetch topic by name or, from v13, by ID.
func (f *fetcher) resolve(rt *kmsg.FetchRequestTopic) (*topic, int16) {
	if f.req.Version >= 13 {
		if tp := f.b.topics.lookupID(rt.TopicID); tp != nil {
			return tp, 0
		}
		return nil, kerr.UnknownTopicID.Code
	}
	if tp := f.b.topics.lookup(rt.Topic); tp != nil {
		return tp, 0
	}
	return nil, kerr.UnknownTopicOrPartition.Code
}

// partition fills sp for one partition and returns the record bytes used.
func (f *fetcher) partition(tp *topic, rp *kmsg.FetchRequestTopicPartition, budget int, sp *kmsg.FetchResponseTopicPartition) int {
	if rp.Partition < 0 || int(rp.Partition) >= len(tp.parts) {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return 0
	}
	if f.req.Version >= 9 && rp.CurrentLeaderEpoch > 0 {
		sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
		return 0
	}
	l := tp.parts[rp.Partition]
	if f.collectWaits {
		// Taken before reading the high watermark, so an append that
		// lands after the read still closes this channel.
		f.waits = append(f.waits, l.Wait())
	}
	hw, start := l.HighWatermark(), l.StartOffset()
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, hw, start
	sp.PreferredReadReplica = -1
	if rp.FetchOffset < start || rp.FetchOffset > hw {
		sp.ErrorCode = kerr.OffsetOutOfRange.Code
		return 0
	}
	if rp.FetchOffset == hw {
		return 0
	}
	limit := min(int(rp.PartitionMaxBytes), budget)
	if limit <= 0 && f.bytes > 0 {
		return 0
	}
	view, err := l.Read(rp.FetchOffset, max(limit, 1))
	switch {
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		sp.ErrorCode = kerr.OffsetOutOfRange.Code // retention raced us
		return 0
	case errors.Is(err, storage.ErrClosed):
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code // deleted meanwhile
		return 0
	case err != nil:
		f.b.log.Error("refbroker: fetch read failed", "topic", tp.name, "partition", rp.Partition, "offset", rp.FetchOffset, "err", err)
		sp.ErrorCode = kerr.KafkaStorageError.Code
		return 0
	}
	n := len(view.Data)
	if n > limit && f.bytes > 0 {
		// Only the first partition with data may exceed the limits.
		view.Release()
		return 0
	}
	f.views = append(f.views, view)
	sp.RecordBatches = view.Data
	f.bytes += n
	return n
}

// aclFetch: fetching a topic needs consume on it; the partitions of other
// topics are answered TOPIC_AUTHORIZATION_FAILED (with empty records) and
// the rest is served. When nothing is left, the answer is immediate.
func aclFetch(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	return serveAllowed(ctx, cc, req, serve, &req.Topics, func(t kmsg.FetchRequestTopic) (kmsg.FetchResponseTopic, bool) {
		rt := kmsg.NewFetchResponseTopic()
		if cc.may(opConsume, resTopic, cc.topicName(t.Topic, t.TopicID)) {
			return rt, false
		}
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rp.RecordBatches = []byte{}
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt, true
	}, func(r *kmsg.FetchResponse) *[]kmsg.FetchResponseTopic { return &r.Topics })
}

// appendFetchResponse encodes a Fetch response body exactly as
// kmsg.FetchResponse.AppendTo does (TestFetchEncoderMatchesKmsg checks
// every version), except that record bytes read from storage are not
// copied: appendRecords leaves them to be written from the segments'
// mappings at flush (zerocopy.go).
// A response carrying tagged fields refbroker never sets, or of a version
// it does not serve (only a test's intercept could make either), is
// encoded by kmsg, copying.
func appendFetchResponse(cc *conn, dst []byte, kresp kmsg.Response) []byte {
	r := kresp.(*kmsg.FetchResponse)
	v, flex := r.Version, r.Version >= 12
	if v < 4 || flex && !untaggedFetch(r) {
		return r.AppendTo(dst)
	}
	arrayLen := kbin.AppendArrayLen
	if flex {
		arrayLen = kbin.AppendCompactArrayLen
	}
	if v >= 1 {
		dst = kbin.AppendInt32(dst, r.ThrottleMillis)
	}
	if v >= 7 {
		dst = kbin.AppendInt16(dst, r.ErrorCode)
		dst = kbin.AppendInt32(dst, r.SessionID)
	}
	dst = arrayLen(dst, len(r.Topics))
	for i := range r.Topics {
		t := &r.Topics[i]
		switch {
		case v >= 13:
			dst = kbin.AppendUuid(dst, t.TopicID)
		case flex:
			dst = kbin.AppendCompactString(dst, t.Topic)
		default:
			dst = kbin.AppendString(dst, t.Topic)
		}
		dst = arrayLen(dst, len(t.Partitions))
		for j := range t.Partitions {
			p := &t.Partitions[j]
			dst = kbin.AppendInt32(dst, p.Partition)
			dst = kbin.AppendInt16(dst, p.ErrorCode)
			dst = kbin.AppendInt64(dst, p.HighWatermark)
			dst = kbin.AppendInt64(dst, p.LastStableOffset) // v4+, the minimum served
			if v >= 5 {
				dst = kbin.AppendInt64(dst, p.LogStartOffset)
			}
			if flex {
				dst = kbin.AppendCompactNullableArrayLen(dst, len(p.AbortedTransactions), p.AbortedTransactions == nil)
			} else {
				dst = kbin.AppendNullableArrayLen(dst, len(p.AbortedTransactions), p.AbortedTransactions == nil)
			}
			for _, a := range p.AbortedTransactions {
				dst = kbin.AppendInt64(dst, a.ProducerID)
				dst = kbin.AppendInt64(dst, a.FirstOffset)
				if flex {
					dst = append(dst, 0) // no tags
				}
			}
			if v >= 11 {
				dst = kbin.AppendInt32(dst, p.PreferredReadReplica)
			}
			dst = cc.appendRecords(dst, p.RecordBatches, flex)
			if flex {
				dst = append(dst, 0) // no tags
			}
		}
		if flex {
			dst = append(dst, 0)
		}
	}
	if flex {
		dst = append(dst, 0)
	}
	return dst
}

// untaggedFetch reports whether r has no tagged field to encode: what
// appendFetchResponse writes for flexible versions.
func untaggedFetch(r *kmsg.FetchResponse) bool {
	if len(r.Brokers) > 0 || r.UnknownTags.Len() > 0 {
		return false
	}
	for i := range r.Topics {
		t := &r.Topics[i]
		if t.UnknownTags.Len() > 0 {
			return false
		}
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1 || p.DivergingEpoch.UnknownTags.Len() > 0 ||
				p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1 || p.CurrentLeader.UnknownTags.Len() > 0 ||
				p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1 || p.SnapshotID.UnknownTags.Len() > 0 ||
				p.UnknownTags.Len() > 0 {
				return false
			}
			for _, a := range p.AbortedTransactions {
				if a.UnknownTags.Len() > 0 {
					return false
				}
			}
		}
	}
	return true
}
