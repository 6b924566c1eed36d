package refbroker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions: v0-3
//
// Behavior:
// * Count is the new total; it must exceed the current count and stay
//   within Config.MaxPartitionsPerTopic, else INVALID_PARTITIONS.
// * Assignment may only place each new partition on this node alone,
//   else INVALID_REPLICA_ASSIGNMENT.
// * Unknown topics are UNKNOWN_TOPIC_OR_PARTITION; a topic named twice is
//   INVALID_REQUEST.
// * ValidateOnly checks and changes nothing. TimeoutMillis is ignored.
//
// Version notes:
// * v2: flexible
// * v3: no request changes

func init() {
	regKey(apiKey{
		key:         kmsg.CreatePartitions,
		authorize:   aclCreatePartitions,
		min:         0,
		max:         3,
		handle:      handleCreatePartitions,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: []string{"TimeoutMillis (synchronous)"},
	})
}

func handleCreatePartitions(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if seen[rt.Topic] > 1 {
			err = fmt.Errorf("%w: topic %q appears more than once in the request", errInvalidRequest, rt.Topic)
		} else {
			err = cc.b.createPartitions(rt, req.ValidateOnly)
		}
		if err != nil {
			st.ErrorCode = adminErrorCode(err)
			st.ErrorMessage = cc.b.clientMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// createPartitions validates and applies one topic's partition increase.
func (b *Broker) createPartitions(rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	if rt.Count > b.cfg.MaxPartitionsPerTopic {
		return fmt.Errorf("%w: %d partitions exceeds the limit of %d", errInvalidPartitions, rt.Count, b.cfg.MaxPartitionsPerTopic)
	}
	for _, a := range rt.Assignment {
		if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
			return fmt.Errorf("%w: new partitions must be assigned to node %d alone", errInvalidReplicaAssignment, b.cfg.NodeID)
		}
	}
	tp := b.topics.lookup(rt.Topic)
	if tp != nil && rt.Assignment != nil && int32(len(rt.Assignment)) != rt.Count-int32(len(tp.parts)) {
		return fmt.Errorf("%w: %d assignments for %d new partitions", errInvalidReplicaAssignment, len(rt.Assignment), rt.Count-int32(len(tp.parts)))
	}
	tp, err := b.topics.addPartitions(rt.Topic, rt.Count, validateOnly)
	if err != nil {
		return err
	}
	if !validateOnly {
		b.log.Info("refbroker: added partitions", "topic", tp.name, "partitions", len(tp.parts))
	}
	return nil
}

// aclCreatePartitions: adding partitions needs admin on the topic, else
// its entry is TOPIC_AUTHORIZATION_FAILED.
func aclCreatePartitions(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	return serveAllowed(ctx, cc, req, serve, &req.Topics, func(t kmsg.CreatePartitionsRequestTopic) (kmsg.CreatePartitionsResponseTopic, bool) {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic, rt.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
		return rt, !cc.may(opAdmin, resTopic, t.Topic)
	}, func(r *kmsg.CreatePartitionsResponse) *[]kmsg.CreatePartitionsResponseTopic { return &r.Topics })
}
