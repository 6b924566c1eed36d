package refbroker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/share"
)

// IncrementalAlterConfigs: v0-1
//
// Behavior:
// * GROUP resources (type 32) carry share-group configs, stored by
//   refbroker/share and persisted: share.auto.offset.reset (latest or
//   earliest), share.record.lock.duration.ms and
//   share.delivery.count.limit. The group need not exist yet. SET and
//   DELETE (back to the broker default) are accepted; APPEND and SUBTRACT
//   get INVALID_CONFIG (the configs are scalar), as do unknown names and
//   bad values. A resource's ops apply all or nothing.
// * ValidateOnly validates without changing anything.
// * Every other resource type gets INVALID_REQUEST.
//
// Version notes:
// * v1: flexible

func init() {
	regKey(apiKey{
		key:       kmsg.IncrementalAlterConfigs,
		authorize: aclIncrementalAlterConfigs,
		min:       0,
		max:       1,
		handle:    handleIncrementalAlterConfigs,
		wait:      answersPromptly,
		frame:     keepsFrame,
		unsupported: []string{
			"resource types other than GROUP (INVALID_REQUEST): topic and broker configs cannot be altered",
			"group configs other than share.auto.offset.reset, share.record.lock.duration.ms, share.delivery.count.limit (INVALID_CONFIG)",
		},
	})
}

func handleIncrementalAlterConfigs(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, r := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		code, msg := alterGroupConfigs(cc.b.shares, r, req.ValidateOnly)
		rr.ErrorCode = code
		if msg != "" {
			rr.ErrorMessage = &msg
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

// alterGroupConfigs applies one resource's ops and returns its error code
// and message.
func alterGroupConfigs(sc *share.Coordinator, r kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (int16, string) {
	if r.ResourceType != kmsg.ConfigResourceTypeGroupConfig {
		return kerr.InvalidRequest.Code, "refbroker alters only GROUP (share group) configs"
	}
	ops := make([]share.ConfigOp, 0, len(r.Configs))
	for _, c := range r.Configs {
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return kerr.InvalidConfig.Code, "SET of " + c.Name + " needs a value"
			}
			ops = append(ops, share.ConfigOp{Name: c.Name, Value: *c.Value})
		case kmsg.IncrementalAlterConfigOpDelete:
			ops = append(ops, share.ConfigOp{Name: c.Name, Delete: true})
		default:
			return kerr.InvalidConfig.Code, "only SET and DELETE apply to " + c.Name + " (a scalar config)"
		}
	}
	err := sc.AlterConfigs(r.ResourceName, ops, validateOnly)
	switch {
	case err == nil:
		return 0, ""
	case errors.Is(err, share.ErrInvalidConfig):
		return kerr.InvalidConfig.Code, err.Error()
	default:
		return kerr.KafkaStorageError.Code, err.Error()
	}
}

// aclIncrementalAlterConfigs: a topic's configs need admin on it
// (TOPIC_AUTHORIZATION_FAILED), a group's group on it
// (GROUP_AUTHORIZATION_FAILED), the broker's admin on the cluster
// (CLUSTER_AUTHORIZATION_FAILED).
func aclIncrementalAlterConfigs(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	return serveAllowed(ctx, cc, req, serve, &req.Resources, func(r kmsg.IncrementalAlterConfigsRequestResource) (kmsg.IncrementalAlterConfigsResponseResource, bool) {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		rr.ErrorCode = configDenial(cc, r.ResourceType, r.ResourceName, true)
		return rr, rr.ErrorCode != 0
	}, func(r *kmsg.IncrementalAlterConfigsResponse) *[]kmsg.IncrementalAlterConfigsResponseResource {
		return &r.Resources
	})
}
