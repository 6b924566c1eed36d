package refbroker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions: v0-5
//
// Behavior:
// * Lists every registered key with its version range (the registry filled
//   by regKey), so the advertised versions are exactly the served ones.
// * A version above v5 is answered with a v0 body holding
//   UNSUPPORTED_VERSION and only our ApiVersions range (KIP-511), without
//   decoding the request body (the registration's tooNew, which dispatch
//   calls instead of the handler).
// * The response header is always v0, even for flexible versions.
// * No features are advertised (no KIP-584 feature levels).
//
// Version notes:
// * v1: ThrottleMillis (always 0)
// * v3: flexible; ClientSoftwareName/Version validated as Kafka does
//   (INVALID_REQUEST on a mismatch)
// * v5: ClusterID and NodeID name the broker the client expects: both or
//   neither set (else INVALID_REQUEST), and a mismatch is
//   REBOOTSTRAP_REQUIRED (KIP-1242)

func init() {
	regKey(apiKey{
		key:         kmsg.ApiVersions,
		authorize:   noACL,
		preAuth:     true,
		min:         0,
		max:         5,
		handle:      handleApiVersions,
		wait:        answersPromptly,
		frame:       keepsFrame,
		unsupported: []string{"SupportedFeatures / FinalizedFeatures (KIP-584): none advertised"},
		headerV0:    true,
		tooNew:      apiVersionsFallback,
	})
}

func handleApiVersions(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 && (!validSoftwareField(req.ClientSoftwareName) || !validSoftwareField(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	if req.Version >= 5 {
		hasCluster, hasNode := req.ClusterID != nil, req.NodeID != -1
		switch {
		case hasCluster != hasNode:
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp, nil
		case hasCluster && (*req.ClusterID != cc.b.ClusterID() || req.NodeID != cc.b.cfg.NodeID):
			resp.ErrorCode = kerr.RebootstrapRequired.Code
			return resp, nil
		}
	}
	for _, k := range sortedAPIKeys() {
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k.key.Int16(), k.min, k.max
		resp.ApiKeys = append(resp.ApiKeys, ak)
	}
	return resp, nil
}

// apiVersionsFallback is the v0 answer to an ApiVersions request newer
// than we serve: UNSUPPORTED_VERSION plus our key-18 range, which is all a
// client needs to retry.
func apiVersionsFallback() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	k := lookupKey(kmsg.ApiVersions.Int16())
	ak := kmsg.NewApiVersionsResponseApiKey()
	ak.ApiKey, ak.MinVersion, ak.MaxVersion = k.key.Int16(), k.min, k.max
	resp.ApiKeys = append(resp.ApiKeys, ak)
	return resp
}

// validSoftwareField mirrors Kafka's check of ClientSoftwareName and
// ClientSoftwareVersion: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
func validSoftwareField(s string) bool {
	alnum := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
