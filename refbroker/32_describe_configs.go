package refbroker

import (
	"context"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs: v0-4
//
// Behavior:
// * TOPIC resources list the supported topic configs (cleanup.policy,
//   flush.messages, flush.ms, max.message.bytes, retention.bytes,
//   retention.ms, segment.bytes) with the topic's override
//   (source DYNAMIC_TOPIC_CONFIG) or the broker default (DEFAULT_CONFIG);
//   ConfigNames filters them, unknown names are simply absent, as in Kafka.
//   flush.messages and flush.ms spell the broker's --fsync policy as Kafka
//   does (always: flush.messages=1; interval: flush.ms=the interval;
//   never: both Long.MAX_VALUE), so a client can read back durability.
// * BROKER resources (this node's ID, or "" for the default) list the
//   broker settings refbroker has: auto.create.topics.enable,
//   num.partitions, socket.request.max.bytes and the log.* defaults, all
//   read-only.
// * Unknown topics are UNKNOWN_TOPIC_OR_PARTITION; other resource types
//   (broker loggers, client metrics, groups) are INVALID_REQUEST.
// * IncludeSynonyms returns no synonyms; IncludeDocumentation no text.
//
// Version notes:
// * v1: Source, synonyms (none)
// * v3: ConfigType
// * v4: flexible

func init() {
	regKey(apiKey{
		key:       kmsg.DescribeConfigs,
		authorize: aclDescribeConfigs,
		min:       0,
		max:       4,
		handle:    handleDescribeConfigs,
		wait:      answersPromptly,
		frame:     keepsFrame,
		unsupported: []string{
			"resource types other than TOPIC and BROKER (INVALID_REQUEST)",
			"synonyms and documentation",
		},
	})
}

func handleDescribeConfigs(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		configs, code, msg := cc.b.describeResource(rr)
		sr.ErrorCode = code
		if msg != "" {
			sr.ErrorMessage = &msg
		}
		for _, c := range configs {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, c.name) {
				continue
			}
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			rc.Name = c.name
			v := c.value
			rc.Value = &v
			rc.IsDefault = c.isDefault
			rc.ReadOnly = rr.ResourceType == kmsg.ConfigResourceTypeBroker
			rc.Source = kmsg.ConfigSource(configSource(c.isDefault))
			rc.ConfigType = configType(c.name)
			sr.Configs = append(sr.Configs, rc)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// describeResource returns one resource's configs or an error code.
func (b *Broker) describeResource(rr kmsg.DescribeConfigsRequestResource) ([]topicConfigValue, int16, string) {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		tp := b.topics.lookup(rr.ResourceName)
		if tp == nil {
			return nil, kerr.UnknownTopicOrPartition.Code, "unknown topic"
		}
		return effectiveTopicConfigs(b.topics.base, tp.configs), 0, ""
	case kmsg.ConfigResourceTypeBroker:
		if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(b.cfg.NodeID)) {
			return nil, kerr.InvalidRequest.Code, "unknown broker " + rr.ResourceName
		}
		st := b.topics.base
		return []topicConfigValue{
			{name: "auto.create.topics.enable", value: strconv.FormatBool(*b.cfg.AutoCreateTopics)},
			{name: "log.retention.bytes", value: strconv.FormatInt(unlimitedAsMinusOne(st.RetentionBytes), 10)},
			{name: "log.retention.ms", value: strconv.FormatInt(unlimitedAsMinusOne(st.Retention.Milliseconds()), 10)},
			{name: "log.segment.bytes", value: strconv.FormatInt(st.SegmentBytes, 10)},
			{name: "message.max.bytes", value: strconv.FormatInt(st.MaxMessageBytes, 10)},
			{name: "num.partitions", value: strconv.Itoa(int(b.cfg.DefaultPartitions))},
			{name: "socket.request.max.bytes", value: strconv.Itoa(int(b.cfg.MaxRequestBytes))},
		}, 0, ""
	default:
		return nil, kerr.InvalidRequest.Code, "refbroker describes only TOPIC and BROKER resources"
	}
}

// configType is the v3+ ConfigType of a config name.
func configType(name string) kmsg.ConfigType {
	switch name {
	case cfgCleanupPolicy:
		return kmsg.ConfigTypeList
	case "auto.create.topics.enable":
		return kmsg.ConfigTypeBoolean
	case "num.partitions", "socket.request.max.bytes", cfgSegmentBytes, "log.segment.bytes", cfgMaxMessageBytes, "message.max.bytes":
		return kmsg.ConfigTypeInt
	default:
		return kmsg.ConfigTypeLong
	}
}

// aclDescribeConfigs: a topic's configs need any permission on it
// (TOPIC_AUTHORIZATION_FAILED), a group's any on the group
// (GROUP_AUTHORIZATION_FAILED), the broker's any on the cluster
// (CLUSTER_AUTHORIZATION_FAILED).
func aclDescribeConfigs(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	return serveAllowed(ctx, cc, req, serve, &req.Resources, func(r kmsg.DescribeConfigsRequestResource) (kmsg.DescribeConfigsResponseResource, bool) {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		rr.ErrorCode = configDenial(cc, r.ResourceType, r.ResourceName, false)
		return rr, rr.ErrorCode != 0
	}, func(r *kmsg.DescribeConfigsResponse) *[]kmsg.DescribeConfigsResponseResource { return &r.Resources })
}

// configDenial returns the authorization error for describing (alter
// false) or altering a config resource, 0 when allowed. Resource types
// refbroker does not serve pass to the handler, which rejects them.
func configDenial(cc *conn, typ kmsg.ConfigResourceType, name string, alter bool) int16 {
	var ok bool
	var code int16
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		ok, code = cc.mayDescribe(resTopic, name), kerr.TopicAuthorizationFailed.Code
		if alter {
			ok = cc.may(opAdmin, resTopic, name)
		}
	case kmsg.ConfigResourceTypeGroupConfig:
		ok, code = cc.may(opGroup, resGroup, name), kerr.GroupAuthorizationFailed.Code
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		ok, code = cc.mayDescribe(resCluster, ""), kerr.ClusterAuthorizationFailed.Code
		if alter {
			ok = cc.may(opAdmin, resCluster, "")
		}
	default:
		return 0
	}
	if ok {
		return 0
	}
	return code
}
