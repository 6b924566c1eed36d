package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets: v1-6
//
// Behavior:
// * Timestamp -2 (earliest) answers the log start offset, -1 (latest) the
//   high watermark (= log end offset), both with timestamp -1.
// * Timestamp >= 0 answers the offset and timestamp of the first record
//   whose timestamp is >= the target (the index finds the batch, its
//   records are decoded); none is offset -1, timestamp -1, as Kafka.
// * Other negative timestamps are INVALID_REQUEST: -3 (max timestamp,
//   v7+) and later specials are not served, which is why v7+ is not
//   advertised.
// * IsolationLevel is accepted: without transactions both levels agree.
//
// Version notes:
// * v1: single offset per partition (v0 OldStyleOffsets not served)
// * v2: IsolationLevel
// * v4: CurrentLeaderEpoch (> 0 is UNKNOWN_LEADER_EPOCH), LeaderEpoch 0
// * v6: flexible

func init() {
	regKey(apiKey{
		key:       kmsg.ListOffsets,
		authorize: aclListOffsets,
		min:       1,
		max:       6,
		handle:    handleListOffsets,
		wait:      answersPromptly,
		frame:     keepsFrame,
		unsupported: []string{
			"timestamps -3 (max timestamp) and later specials (v7+ not advertised)",
			"v0 OldStyleOffsets / MaxNumOffsets",
			"timestamp lookups are batch-granular: the first batch whose max timestamp >= target",
		},
	})
}

func handleListOffsets(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		tp := cc.b.topics.lookup(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			listPartitionOffset(tp, rp, &sp)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// listPartitionOffset answers one partition.
func listPartitionOffset(tp *topic, rp kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	if tp == nil || rp.Partition < 0 || int(rp.Partition) >= len(tp.parts) {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return
	}
	if rp.CurrentLeaderEpoch > 0 {
		sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
		return
	}
	l := tp.parts[rp.Partition]
	sp.LeaderEpoch = 0
	switch ts := rp.Timestamp; {
	case ts == -2:
		sp.Offset = l.StartOffset()
	case ts == -1:
		sp.Offset = l.HighWatermark()
	case ts >= 0:
		if off, bts, ok := l.OffsetForTime(ts); ok {
			sp.Offset, sp.Timestamp = off, bts
		}
	default:
		sp.ErrorCode = kerr.InvalidRequest.Code
	}
}

// aclListOffsets: a topic's offsets need any permission on it (Kafka's
// Describe); other topics' partitions are TOPIC_AUTHORIZATION_FAILED.
func aclListOffsets(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	return serveAllowed(ctx, cc, req, serve, &req.Topics, func(t kmsg.ListOffsetsRequestTopic) (kmsg.ListOffsetsResponseTopic, bool) {
		rt := kmsg.NewListOffsetsResponseTopic()
		if cc.mayDescribe(resTopic, t.Topic) {
			return rt, false
		}
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt, true
	}, func(r *kmsg.ListOffsetsResponse) *[]kmsg.ListOffsetsResponseTopic { return &r.Topics })
}
