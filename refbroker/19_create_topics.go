package refbroker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics: v0-7
//
// Behavior:
// * NumPartitions -1 takes DefaultPartitions; 0 or more than
//   Config.MaxPartitionsPerTopic is INVALID_PARTITIONS.
// * ReplicationFactor must be 1 or -1 (one broker); anything else is
//   INVALID_REPLICATION_FACTOR.
// * ReplicaAssignment may only place each partition on this node alone
//   (else INVALID_REPLICA_ASSIGNMENT); it then sets the partition count.
// * Configs: retention.ms, retention.bytes, segment.bytes,
//   max.message.bytes, cleanup.policy=delete and flush.messages (1: fsync
//   every append before its ack) are applied per topic; anything else is
//   INVALID_CONFIG with the reason in ErrorMessage.
// * An existing name is TOPIC_ALREADY_EXISTS; a bad name
//   INVALID_TOPIC_EXCEPTION; a name given twice in one request
//   INVALID_REQUEST.
// * ValidateOnly runs every check and creates nothing.
// * Past Config.MaxCreateTopicsPerRequest topics or
//   MaxCreatePartitionsPerRequest partitions in one request, the further
//   topics are POLICY_VIOLATION. Topics over the broker's
//   PartitionCreationsPerMinute quota (KIP-599's controller mutation
//   quota, in partitions) are THROTTLING_QUOTA_EXCEEDED with
//   ThrottleMillis set (POLICY_VIOLATION before v6). ValidateOnly takes no
//   quota. One metadata write covers the whole request.
// * TimeoutMillis is ignored: creation is synchronous. When the client
//   disconnects or the broker stops, the topics not yet created are not
//   (those already created stay) and no response is sent.
//
// Version notes:
// * v1: ValidateOnly, ErrorMessage
// * v4: -1 defaults for NumPartitions and ReplicationFactor
// * v5: flexible; NumPartitions, ReplicationFactor and Configs returned
// * v6: THROTTLING_QUOTA_EXCEEDED (KIP-599)
// * v7: TopicID returned

func init() {
	regKey(apiKey{
		key:       kmsg.CreateTopics,
		authorize: aclCreateTopics,
		min:       0,
		max:       7,
		handle:    handleCreateTopics,
		wait:      answersPromptly,
		frame:     keepsFrame,
		unsupported: []string{
			"replication factor other than 1, replica assignments to other nodes",
			"topic configs other than retention.ms, retention.bytes, segment.bytes, max.message.bytes, cleanup.policy=delete, flush.messages=1 (INVALID_CONFIG)",
			"TimeoutMillis (creation is synchronous)",
		},
	})
}

func handleCreateTopics(ctx context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	b := cc.b
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	resp.Topics = make([]kmsg.CreateTopicsResponseTopic, len(req.Topics))
	setErr := func(st *kmsg.CreateTopicsResponseTopic, err error) {
		st.ErrorCode = adminErrorCode(err)
		if st.ErrorCode == kerr.ThrottlingQuotaExceeded.Code && req.Version < 6 {
			st.ErrorCode = kerr.PolicyViolation.Code // v6 introduced the code
		}
		if req.Version >= 1 {
			st.ErrorMessage = b.clientMessage(err)
		}
	}
	var specs []topicSpec
	var at []int // response index of each spec
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		if seen[rt.Topic] > 1 {
			setErr(st, fmt.Errorf("%w: topic %q appears more than once in the request", errInvalidRequest, rt.Topic))
			continue
		}
		sp, err := b.topicSpec(rt)
		if err != nil {
			setErr(st, err)
			continue
		}
		specs, at = append(specs, sp), append(at, i)
	}
	budget, throttle := b.newRequestBudget(), time.Duration(0)
	admit := func(sp topicSpec) error {
		if err := budget.check(true, sp.partitions); err != nil {
			return err
		}
		if !req.ValidateOnly { // as in Kafka, validation takes no quota
			d, err := b.topics.quota.admit(sp.partitions)
			if err != nil {
				throttle = max(throttle, d)
				return err
			}
		}
		budget.take(true, sp.partitions)
		return nil
	}
	created, errs, err := b.topics.createTopics(ctx, specs, req.ValidateOnly, admit)
	if err != nil {
		// The client left or the broker stops: the topics created so
		// far stay, the rest are not created, nothing is answered.
		return nil, fmt.Errorf("%w: CreateTopics abandoned: %w", errCloseConn, err)
	}
	for j, i := range at {
		if errs[j] != nil {
			setErr(&resp.Topics[i], errs[j])
			continue
		}
		b.describeCreated(&resp.Topics[i], created[j], specs[j], req.ValidateOnly)
	}
	resp.ThrottleMillis = throttleMillis(throttle)
	return resp, nil
}

// topicSpec validates one requested topic's partition count, replication
// and configs.
func (b *Broker) topicSpec(rt kmsg.CreateTopicsRequestTopic) (topicSpec, error) {
	n := rt.NumPartitions
	if len(rt.ReplicaAssignment) > 0 {
		if n != -1 || rt.ReplicationFactor != -1 {
			return topicSpec{}, fmt.Errorf("%w: ReplicaAssignment requires NumPartitions and ReplicationFactor -1", errInvalidRequest)
		}
		for i, a := range rt.ReplicaAssignment {
			if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID || a.Partition != int32(i) {
				return topicSpec{}, fmt.Errorf("%w: partition %d must be assigned to node %d alone, partitions numbered from 0", errInvalidReplicaAssignment, a.Partition, b.cfg.NodeID)
			}
		}
		n = int32(len(rt.ReplicaAssignment))
	} else if rf := rt.ReplicationFactor; rf != 1 && rf != -1 {
		return topicSpec{}, fmt.Errorf("%w: replication factor %d: refbroker is a single broker, only 1 is possible", errInvalidReplicationFactor, rf)
	}
	if n == -1 {
		n = b.cfg.DefaultPartitions
	}
	if n < 1 || n > b.cfg.MaxPartitionsPerTopic {
		return topicSpec{}, fmt.Errorf("%w: %d partitions is outside [1, %d]", errInvalidPartitions, n, b.cfg.MaxPartitionsPerTopic)
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if c.Value == nil {
			continue // null value: use the default
		}
		configs[c.Name] = *c.Value
	}
	if len(configs) == 0 {
		configs = nil
	}
	return topicSpec{name: rt.Topic, partitions: n, configs: configs}, nil
}

// describeCreated fills st for a created (or, with validateOnly,
// validated) topic.
func (b *Broker) describeCreated(st *kmsg.CreateTopicsResponseTopic, tp *topic, sp topicSpec, validateOnly bool) {
	if !validateOnly {
		b.log.Info("refbroker: created topic", "topic", tp.name, "partitions", sp.partitions, "configs", sp.configs)
		st.TopicID = tp.id
	}
	st.NumPartitions, st.ReplicationFactor = sp.partitions, 1
	for _, c := range effectiveTopicConfigs(b.topics.base, sp.configs) {
		rc := kmsg.NewCreateTopicsResponseTopicConfig()
		rc.Name = c.name
		v := c.value
		rc.Value = &v
		rc.Source = configSource(c.isDefault)
		st.Configs = append(st.Configs, rc)
	}
}

// throttleMillis is d in whole milliseconds, rounded up so that a client
// waiting that long finds the quota out of debt.
func throttleMillis(d time.Duration) int32 {
	return int32(min((d+time.Millisecond-1)/time.Millisecond, math.MaxInt32))
}

// configSource is DescribeConfigs' ConfigSource: DYNAMIC_TOPIC_CONFIG (1)
// for a topic override, DEFAULT_CONFIG (5) otherwise.
func configSource(isDefault bool) int8 {
	if isDefault {
		return 5
	}
	return 1
}

// adminErrorCode maps a topic-administration error to a Kafka code.
func adminErrorCode(err error) int16 {
	switch {
	case errors.Is(err, errTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, errUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, errInvalidTopicName):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, errInvalidTopicConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, errInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, errInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, errInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, errInvalidRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, errCreateLimit):
		return kerr.PolicyViolation.Code
	case errors.Is(err, errThrottled):
		return kerr.ThrottlingQuotaExceeded.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

// aclCreateTopics: creating a topic needs admin on it, else its entry is
// TOPIC_AUTHORIZATION_FAILED.
func aclCreateTopics(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	return serveAllowed(ctx, cc, req, serve, &req.Topics, func(t kmsg.CreateTopicsRequestTopic) (kmsg.CreateTopicsResponseTopic, bool) {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic, rt.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		return rt, !cc.may(opAdmin, resTopic, t.Topic)
	}, func(r *kmsg.CreateTopicsResponse) *[]kmsg.CreateTopicsResponseTopic { return &r.Topics })
}
