package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// OffsetFetch: v0-9 (the range group.Versions declares; a test checks this line)
//
// Behavior:
// * Delegated to refbroker/group; unknown partitions answer offset -1.
//
// Version notes:
// * v8+: batched groups. v10 (topic IDs) is not served.

func init() {
	regGroupKey(apiKey{
		key:         kmsg.OffsetFetch,
		authorize:   aclOffsetFetch,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: []string{"topic IDs (v10+ not advertised)"},
	}, (*group.Coordinator).OffsetFetch)
}

// aclOffsetFetch: a group's offsets need group on it
// (GROUP_AUTHORIZATION_FAILED); a topic's need any permission on it, else
// its partitions are TOPIC_AUTHORIZATION_FAILED.
func aclOffsetFetch(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	markTopics := func(ts []kmsg.OffsetFetchResponseTopic) {
		for i := range ts {
			if !cc.mayDescribe(resTopic, ts[i].Topic) {
				for j := range ts[i].Partitions {
					ts[i].Partitions[j].ErrorCode, ts[i].Partitions[j].Offset = kerr.TopicAuthorizationFailed.Code, -1
				}
			}
		}
	}
	if req.Version < 8 {
		if !cc.may(opGroup, resGroup, req.Group) {
			resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			for _, t := range req.Topics { // v0-1 have only partition errors
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.Offset = p, kerr.GroupAuthorizationFailed.Code, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp, nil
		}
		r, err := serve(ctx, cc, req)
		if err != nil || r == nil {
			return r, err
		}
		markTopics(r.(*kmsg.OffsetFetchResponse).Topics)
		return r, nil
	}
	r, err := serveAllowed(ctx, cc, req, serve, &req.Groups, func(g kmsg.OffsetFetchRequestGroup) (kmsg.OffsetFetchResponseGroup, bool) {
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
		return rg, !cc.may(opGroup, resGroup, g.Group)
	}, func(r *kmsg.OffsetFetchResponse) *[]kmsg.OffsetFetchResponseGroup { return &r.Groups })
	if resp, ok := r.(*kmsg.OffsetFetchResponse); ok {
		for i := range resp.Groups {
			for _, t := range resp.Groups[i].Topics {
				if !cc.mayDescribe(resTopic, t.Topic) {
					for j := range t.Partitions {
						t.Partitions[j].ErrorCode, t.Partitions[j].Offset = kerr.TopicAuthorizationFailed.Code, -1
					}
				}
			}
		}
	}
	return r, err
}
