package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// OffsetCommit: v0-9 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group, which persists committed offsets in
//   DataDir/groups. A commit to a topic or partition that does not exist
//   is UNKNOWN_TOPIC_OR_PARTITION for that partition, as in Kafka.
//
// Version notes:
// * v10 (topic IDs) is not served; the coordinator keys offsets by name.

func init() {
	regGroupKey(apiKey{
		key:         kmsg.OffsetCommit,
		authorize:   aclOffsetCommit,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: []string{"topic IDs (v10+ not advertised)"},
	}, (*group.Coordinator).OffsetCommit)
}

// aclOffsetCommit: committing needs group on the group (else every
// partition is GROUP_AUTHORIZATION_FAILED) and consume on each topic
// (else that topic's partitions are TOPIC_AUTHORIZATION_FAILED).
func aclOffsetCommit(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	groupOK := cc.may(opGroup, resGroup, req.Group)
	return serveAllowed(ctx, cc, req, serve, &req.Topics, func(t kmsg.OffsetCommitRequestTopic) (kmsg.OffsetCommitResponseTopic, bool) {
		rt := kmsg.NewOffsetCommitResponseTopic()
		code := kerr.GroupAuthorizationFailed.Code
		if groupOK {
			if cc.may(opConsume, resTopic, t.Topic) {
				return rt, false
			}
			code = kerr.TopicAuthorizationFailed.Code
		}
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt, true
	}, func(r *kmsg.OffsetCommitResponse) *[]kmsg.OffsetCommitResponseTopic { return &r.Topics })
}
