package refbroker

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake: v1
//
// Behavior:
// * Served before authentication (KIP-152). On a SASL listener it picks
//   the mechanism for the SaslAuthenticate exchange that follows:
//   PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, those the users file has users
//   for (listed in SupportedMechanisms).
// * Another mechanism is UNSUPPORTED_SASL_MECHANISM and the connection is
//   closed after the answer, as Kafka does.
// * On a listener without SASL, a second handshake, or one after
//   authentication: ILLEGAL_SASL_STATE.
//
// Version notes:
// * v0 (SASL tokens without Kafka framing) is not served; clients that
//   see v1 advertised use SaslAuthenticate.

func init() {
	regKey(apiKey{
		key:         kmsg.SASLHandshake,
		min:         1,
		max:         1,
		handle:      handleSASLHandshake,
		wait:        answersPromptly,
		frame:       releasesFrame,
		unsupported: []string{"v0 (unframed SASL tokens)", "re-authentication (KIP-368): a handshake after authentication is ILLEGAL_SASL_STATE"},
		preAuth:     true,
		authorize:   noACL,
	})
}

func handleSASLHandshake(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	u := cc.b.sec.users
	if u == nil || cc.auth.done || cc.auth.mech != "" {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	resp.SupportedMechanisms = u.mechanisms()
	if !slices.Contains(resp.SupportedMechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		cc.auth.closeAfterReply = fmt.Errorf("%w: unsupported SASL mechanism %q (client %q)", errCloseConn, req.Mechanism, cc.clientID)
		return resp, nil
	}
	cc.auth.mech = req.Mechanism
	if req.Mechanism != MechanismPlain {
		srv, err := u.scramServer(req.Mechanism)
		if err != nil { // only for an unknown hash, which mechanisms() excludes
			return nil, fmt.Errorf("%w: SCRAM server: %v", errCloseConn, err)
		}
		cc.auth.conv = srv.NewConversation()
	}
	return resp, nil
}
