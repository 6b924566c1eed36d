package sqs

import (
	"context"
	"net/url"
	"strings"

	"github.com/brokerbench/brokerbench/adapters"
)

// Durability implements adapters.Durabler. SQS has no durability setting
// to apply or read back through its API: Amazon SQS answers SendMessage
// after storing the message redundantly on several servers across
// availability zones (Amazon SQS Developer Guide, "Basic Amazon SQS
// architecture"), which is the replicated level whatever was requested.
// A custom endpoint (an emulator such as moto or goaws, or a proxy) may
// be anything, so its level is unknown rather than assumed.
func (s *SQS) Durability(_ context.Context, topic string, _ adapters.Acks) (adapters.DurabilityReport, error) {
	ep := s.endpoint()
	if amazonEndpoint(ep) {
		return adapters.DurabilityReport{
			Effective: adapters.DurabilityReplicated,
			Evidence: []string{"endpoint " + ep + " is Amazon SQS, which stores each message redundantly across availability zones before SendMessage returns (SQS developer guide)",
				"SQS exposes no durability setting; the requested level cannot be applied"},
		}, nil
	}
	return adapters.DurabilityReport{
		Evidence: []string{"endpoint " + ep + " is not Amazon SQS (an emulator or proxy): the SQS API has no durability setting to read back, so the level of topic " + topic + " is unknown"},
	}, nil
}

// amazonEndpoint reports whether ep is an Amazon SQS endpoint: the
// region's public endpoint, a FIPS or dual-stack one, or a VPC interface
// endpoint, all under amazonaws.com or api.aws.
func amazonEndpoint(ep string) bool {
	u, err := url.Parse(ep)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return strings.HasSuffix(h, ".amazonaws.com") || strings.HasSuffix(h, ".amazonaws.com.cn") || strings.HasSuffix(h, ".api.aws")
}
