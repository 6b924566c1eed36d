package refbroker

import (
	"context"
	"errors"
	"fmt"

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
// * TimeoutMillis is ignored: creation is synchronous. When the client
//   disconnects or the broker stops, the topics not yet created are not
//   (those already created stay) and no response is sent.
//
// Version notes:
// * v1: ValidateOnly, ErrorMessage
// * v4: -1 defaults for NumPartitions and ReplicationFactor
// * v5: flexible; NumPartitions, ReplicationFactor and Configs returned
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
			"topic configs other than retention.ms, retention.bytes, segment.bytes, max.message.bytes, cleanup.policy=delete (INVALID_CONFIG)",
			"TimeoutMillis (creation is synchronous)",
		},
	})
}

func handleCreateTopics(ctx context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for i, rt := range req.Topics {
		if err := ctx.Err(); err != nil {
			// The client left or the broker stops: the topics created
			// so far stay, the rest are not created.
			return nil, fmt.Errorf("%w: CreateTopics abandoned after %d of %d topics: %w", errCloseConn, i, len(req.Topics), context.Cause(ctx))
		}
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if seen[rt.Topic] > 1 {
			err = fmt.Errorf("%w: topic %q appears more than once in the request", errInvalidRequest, rt.Topic)
		} else {
			err = cc.b.createTopic(req, rt, &st)
		}
		if err != nil {
			st.ErrorCode = adminErrorCode(err)
			if req.Version >= 1 {
				st.ErrorMessage = cc.b.clientMessage(err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// createTopic validates and creates one topic, filling st on success.
func (b *Broker) createTopic(req *kmsg.CreateTopicsRequest, rt kmsg.CreateTopicsRequestTopic, st *kmsg.CreateTopicsResponseTopic) error {
	n := rt.NumPartitions
	if len(rt.ReplicaAssignment) > 0 {
		if n != -1 || rt.ReplicationFactor != -1 {
			return fmt.Errorf("%w: ReplicaAssignment requires NumPartitions and ReplicationFactor -1", errInvalidRequest)
		}
		for i, a := range rt.ReplicaAssignment {
			if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID || a.Partition != int32(i) {
				return fmt.Errorf("%w: partition %d must be assigned to node %d alone, partitions numbered from 0", errInvalidReplicaAssignment, a.Partition, b.cfg.NodeID)
			}
		}
		n = int32(len(rt.ReplicaAssignment))
	} else if rf := rt.ReplicationFactor; rf != 1 && rf != -1 {
		return fmt.Errorf("%w: replication factor %d: refbroker is a single broker, only 1 is possible", errInvalidReplicationFactor, rf)
	}
	if n == -1 {
		n = b.cfg.DefaultPartitions
	}
	if n < 1 || n > b.cfg.MaxPartitionsPerTopic {
		return fmt.Errorf("%w: %d partitions is outside [1, %d]", errInvalidPartitions, n, b.cfg.MaxPartitionsPerTopic)
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
	tp, err := b.topics.create(rt.Topic, n, configs, req.ValidateOnly)
	if err != nil {
		return err
	}
	if !req.ValidateOnly {
		b.log.Info("refbroker: created topic", "topic", tp.name, "partitions", n, "configs", configs)
		st.TopicID = tp.id
	}
	st.NumPartitions, st.ReplicationFactor = n, 1
	for _, c := range effectiveTopicConfigs(b.topics.base, configs) {
		rc := kmsg.NewCreateTopicsResponseTopicConfig()
		rc.Name = c.name
		v := c.value
		rc.Value = &v
		rc.Source = configSource(c.isDefault)
		st.Configs = append(st.Configs, rc)
	}
	return nil
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
