package refbroker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata: v0-13
//
// Behavior:
// * One broker (this node, at the advertised address); it is the
//   controller and the leader of every partition, with leader epoch 0 and
//   replicas = ISR = [this node].
// * All topics when the request asks for all (null list; empty list in v0).
// * An unknown topic is created with DefaultPartitions when the broker
//   allows auto-creation and the request does (always in v0-3,
//   AllowAutoTopicCreation in v4+), then returned as a normal topic; a
//   name Kafka would reject is INVALID_TOPIC_EXCEPTION. All topics a
//   request creates take one metadata write; past the creation limits
//   (Config.MaxCreateTopicsPerRequest, MaxCreatePartitionsPerRequest,
//   PartitionCreationsPerMinute) a topic is LEADER_NOT_AVAILABLE, so the
//   client asks again.
// * Topics requested by ID (v10+, null name) are looked up by ID; unknown
//   IDs are UNKNOWN_TOPIC_ID.
// * Authorized operations are not computed (INT32_MIN, "not provided").
//
// Version notes:
// * v1: ControllerID, IsInternal, Rack (null); null topics means all
// * v2: ClusterID
// * v4: AllowAutoTopicCreation
// * v7: LeaderEpoch (0)
// * v9: flexible
// * v10: TopicID
// * v13: top-level ErrorCode (always 0)

func init() {
	regKey(apiKey{
		key:       kmsg.Metadata,
		authorize: aclMetadata,
		min:       0,
		max:       13,
		handle:    handleMetadata,
		wait:      answersPromptly,
		frame:     keepsFrame,
		unsupported: []string{
			"AuthorizedOperations (always INT32_MIN)",
			"racks (null) and OfflineReplicas (empty)",
		},
	})
}

func handleMetadata(ctx context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	b := cc.b
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	mb := kmsg.NewMetadataResponseBroker()
	mb.NodeID, mb.Host, mb.Port = b.cfg.NodeID, b.adv.host, b.adv.port
	resp.Brokers = append(resp.Brokers, mb)
	clusterID := b.ClusterID()
	resp.ClusterID = &clusterID
	resp.ControllerID = b.cfg.NodeID

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		topics := b.topics.all()
		slices.SortFunc(topics, func(x, y *topic) int { return strings.Compare(x.name, y.name) })
		for _, tp := range topics {
			resp.Topics = append(resp.Topics, b.metadataTopic(tp))
		}
		return resp, nil
	}
	allowCreate := *b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	var refused map[string]int16
	if allowCreate {
		var err error
		if refused, err = b.autoCreate(ctx, req.Topics); err != nil {
			// Auto-creating for a client that left, or a broker that
			// stops, is work nobody will see.
			return nil, fmt.Errorf("%w: Metadata abandoned: %w", errCloseConn, err)
		}
	}
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, b.metadataRequestedTopic(rt, allowCreate, refused))
	}
	return resp, nil
}

// autoCreate creates the unknown, validly named topics of a Metadata
// request, all with one metadata write and within the creation limits. It
// returns the error code for each topic it could not create; a topic over
// a limit gets LEADER_NOT_AVAILABLE, so the client asks again later.
func (b *Broker) autoCreate(ctx context.Context, topics []kmsg.MetadataRequestTopic) (map[string]int16, error) {
	var specs []topicSpec
	named := map[string]bool{}
	for _, rt := range topics {
		if rt.Topic == nil || named[*rt.Topic] || b.topics.lookup(*rt.Topic) != nil || validateTopicName(*rt.Topic) != nil {
			continue
		}
		named[*rt.Topic] = true
		specs = append(specs, topicSpec{name: *rt.Topic, partitions: b.cfg.DefaultPartitions})
	}
	if len(specs) == 0 {
		return nil, nil
	}
	budget := b.newRequestBudget()
	admit := func(sp topicSpec) error {
		if err := budget.check(true, sp.partitions); err != nil {
			return err
		}
		if _, err := b.topics.quota.admit(sp.partitions); err != nil {
			return err
		}
		budget.take(true, sp.partitions)
		return nil
	}
	created, errs, err := b.topics.createTopics(ctx, specs, false, admit)
	if err != nil {
		return nil, err
	}
	refused := map[string]int16{}
	for i, sp := range specs {
		switch err := errs[i]; {
		case err == nil:
			b.log.Info("refbroker: auto-created topic", "topic", sp.name, "partitions", len(created[i].parts))
		case errors.Is(err, errTopicExists): // created concurrently
		case errors.Is(err, errInvalidTopicName): // collides with an existing name
			refused[sp.name] = kerr.InvalidTopicException.Code
		case errors.Is(err, errCreateLimit), errors.Is(err, errThrottled):
			refused[sp.name] = kerr.LeaderNotAvailable.Code
		default:
			b.log.Error("refbroker: auto-create topic", "topic", sp.name, "err", err)
			refused[sp.name] = kerr.UnknownServerError.Code
		}
	}
	return refused, nil
}

// metadataRequestedTopic answers one explicitly requested topic, after
// autoCreate: refused holds the codes of topics it could not create.
func (b *Broker) metadataRequestedTopic(rt kmsg.MetadataRequestTopic, allowCreate bool, refused map[string]int16) kmsg.MetadataResponseTopic {
	if rt.Topic == nil {
		if tp := b.topics.lookupID(rt.TopicID); tp != nil {
			return b.metadataTopic(tp)
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.TopicID = rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicID.Code
		return mt
	}
	name := *rt.Topic
	if tp := b.topics.lookup(name); tp != nil {
		return b.metadataTopic(tp)
	}
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = &name
	switch code, ok := refused[name]; {
	case validateTopicName(name) != nil:
		mt.ErrorCode = kerr.InvalidTopicException.Code
	case !allowCreate:
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
	case ok:
		mt.ErrorCode = code
	default: // deleted again since autoCreate made it
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
	}
	return mt
}

// metadataTopic describes an existing topic.
func (b *Broker) metadataTopic(tp *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := tp.name
	mt.Topic, mt.TopicID = &name, tp.id
	node := b.cfg.NodeID
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(tp.parts))
	for p := range tp.parts {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = int32(p), node, 0
		mp.Replicas, mp.ISR = []int32{node}, []int32{node}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// aclMetadata: a listing of all topics shows only those the principal has
// any permission on. A named topic without one is
// TOPIC_AUTHORIZATION_FAILED; a named topic that does not exist is
// auto-created only with admin on it, else it is UNKNOWN_TOPIC_OR_PARTITION
// (Kafka's Create check).
func aclMetadata(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.MetadataRequest)
	all := req.Topics == nil
	var denied []kmsg.MetadataResponseTopic
	req.Topics = slices.DeleteFunc(req.Topics, func(t kmsg.MetadataRequestTopic) bool {
		name := cc.topicName(derefOr(t.Topic, ""), t.TopicID)
		code := int16(0)
		switch {
		case !cc.mayDescribe(resTopic, name):
			code = kerr.TopicAuthorizationFailed.Code
		case cc.b.topics.lookup(name) == nil && !cc.may(opAdmin, resTopic, name):
			code = kerr.UnknownTopicOrPartition.Code
		default:
			return false
		}
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic, rt.TopicID, rt.ErrorCode = t.Topic, t.TopicID, code
		denied = append(denied, rt)
		return true
	})
	v0none := false
	if !all && len(req.Topics) == 0 {
		req.Topics = []kmsg.MetadataRequestTopic{} // none left, not all
		// v0 reads an empty list as all topics; v1 has the same
		// response fields plus some that v0 encoding drops.
		v0none, req.Version = req.Version == 0, max(req.Version, 1)
	}
	r, err := serve(ctx, cc, req)
	if err != nil || r == nil {
		return r, err
	}
	resp := r.(*kmsg.MetadataResponse)
	if v0none {
		resp.Version = 0
	}
	if all {
		resp.Topics = slices.DeleteFunc(resp.Topics, func(t kmsg.MetadataResponseTopic) bool {
			return !cc.mayDescribe(resTopic, derefOr(t.Topic, ""))
		})
	}
	resp.Topics = append(resp.Topics, denied...)
	return resp, nil
}
