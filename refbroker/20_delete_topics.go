package refbroker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics: v0-6
//
// Behavior:
// * Deletes synchronously: the topic leaves the metadata file, its logs
//   are closed and their files removed (files still mapped by an
//   in-flight fetch go at its release), and its committed group offsets
//   are dropped. TimeoutMillis is ignored.
// * Unknown names are UNKNOWN_TOPIC_OR_PARTITION, unknown IDs
//   UNKNOWN_TOPIC_ID; a v6 entry with both a name and an ID, or neither,
//   is INVALID_REQUEST.
//
// Version notes:
// * v4: flexible
// * v5: ErrorMessage
// * v6: topics by name or by TopicID

func init() {
	regKey(apiKey{
		key:         kmsg.DeleteTopics,
		authorize:   aclDeleteTopics,
		min:         0,
		max:         6,
		handle:      handleDeleteTopics,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: []string{"TimeoutMillis (deletion is synchronous)"},
	})
}

func handleDeleteTopics(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	if req.Version < 6 {
		for _, name := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = &name
			req.Topics = append(req.Topics, rt)
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		tp, code, err := cc.b.deleteTopic(rt)
		if tp != nil {
			name := tp.name
			st.Topic, st.TopicID = &name, tp.id
		}
		st.ErrorCode = code
		if err != nil && req.Version >= 5 {
			st.ErrorMessage = cc.b.clientMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// deleteTopic resolves and deletes one topic.
func (b *Broker) deleteTopic(rt kmsg.DeleteTopicsRequestTopic) (*topic, int16, error) {
	hasID := rt.TopicID != (topicID{})
	var tp *topic
	switch {
	case rt.Topic != nil && hasID, rt.Topic == nil && !hasID:
		return nil, kerr.InvalidRequest.Code, fmt.Errorf("%w: give a topic name or a topic ID, not both or neither", errInvalidRequest)
	case hasID:
		if tp = b.topics.lookupID(rt.TopicID); tp == nil {
			return nil, kerr.UnknownTopicID.Code, fmt.Errorf("delete topic: %w: no topic has that ID", errUnknownTopic)
		}
	default:
		if tp = b.topics.lookup(*rt.Topic); tp == nil {
			return nil, kerr.UnknownTopicOrPartition.Code, fmt.Errorf("delete topic %s: %w", *rt.Topic, errUnknownTopic)
		}
	}
	if err := b.topics.remove(tp); err != nil {
		b.log.Error("refbroker: delete topic", "topic", tp.name, "err", err)
		return tp, adminErrorCode(err), err
	}
	b.groups.DeleteTopic(tp.name)
	b.shares.DeleteTopic(tp.id)
	b.log.Info("refbroker: deleted topic", "topic", tp.name)
	return tp, 0, nil
}

// aclDeleteTopics: deleting a topic needs admin on it, else its entry is
// TOPIC_AUTHORIZATION_FAILED.
func aclDeleteTopics(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	deny := func(name *string, id [16]byte) (kmsg.DeleteTopicsResponseTopic, bool) {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID, rt.ErrorCode = name, id, kerr.TopicAuthorizationFailed.Code
		return rt, !cc.may(opAdmin, resTopic, cc.topicName(derefOr(name, ""), id))
	}
	out := func(r *kmsg.DeleteTopicsResponse) *[]kmsg.DeleteTopicsResponseTopic { return &r.Topics }
	if req.Version < 6 {
		return serveAllowed(ctx, cc, req, serve, &req.TopicNames, func(t string) (kmsg.DeleteTopicsResponseTopic, bool) { return deny(&t, [16]byte{}) }, out)
	}
	return serveAllowed(ctx, cc, req, serve, &req.Topics, func(t kmsg.DeleteTopicsRequestTopic) (kmsg.DeleteTopicsResponseTopic, bool) {
		return deny(t.Topic, t.TopicID)
	}, out)
}
