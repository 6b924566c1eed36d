package refbroker

import (
	"context"
	"fmt"
	"time"

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
// * The partitions a request adds count against
//   Config.MaxCreatePartitionsPerRequest (POLICY_VIOLATION past it) and the
//   broker's PartitionCreationsPerMinute quota (THROTTLING_QUOTA_EXCEEDED
//   with ThrottleMillis; POLICY_VIOLATION before v3). One metadata write
//   covers the whole request.
//
// Version notes:
// * v2: flexible
// * v3: THROTTLING_QUOTA_EXCEEDED (KIP-599)

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
	b := cc.b
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	resp.Topics = make([]kmsg.CreatePartitionsResponseTopic, len(req.Topics))
	setErr := func(st *kmsg.CreatePartitionsResponseTopic, err error) {
		st.ErrorCode = adminErrorCode(err)
		if st.ErrorCode == kerr.ThrottlingQuotaExceeded.Code && req.Version < 3 {
			st.ErrorCode = kerr.PolicyViolation.Code // v3 introduced the code
		}
		st.ErrorMessage = b.clientMessage(err)
	}
	var specs []partitionSpec
	var at []int // response index of each spec
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if seen[rt.Topic] > 1 {
			err = fmt.Errorf("%w: topic %q appears more than once in the request", errInvalidRequest, rt.Topic)
		} else {
			err = b.checkPartitionIncrease(rt)
		}
		if err != nil {
			setErr(st, err)
			continue
		}
		specs, at = append(specs, partitionSpec{name: rt.Topic, total: rt.Count}), append(at, i)
	}
	budget, throttle := b.newRequestBudget(), time.Duration(0)
	admit := func(_ string, added int32) error {
		if err := budget.check(false, added); err != nil {
			return err
		}
		if !req.ValidateOnly {
			d, err := b.topics.quota.admit(added)
			if err != nil {
				throttle = max(throttle, d)
				return err
			}
		}
		budget.take(false, added)
		return nil
	}
	tps, errs := b.topics.addPartitionsMany(specs, req.ValidateOnly, admit)
	for j, i := range at {
		if errs[j] != nil {
			setErr(&resp.Topics[i], errs[j])
		} else if !req.ValidateOnly {
			b.log.Info("refbroker: added partitions", "topic", tps[j].name, "partitions", len(tps[j].parts))
		}
	}
	resp.ThrottleMillis = throttleMillis(throttle)
	return resp, nil
}

// checkPartitionIncrease validates one topic's request against the
// partition limit and this node's assignment rules.
func (b *Broker) checkPartitionIncrease(rt kmsg.CreatePartitionsRequestTopic) error {
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
