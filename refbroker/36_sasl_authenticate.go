package refbroker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SASLAuthenticate: v0-2
//
// Behavior:
// * Served before authentication (KIP-152); carries the exchange of the
//   mechanism SaslHandshake chose: one PLAIN message, or the two SCRAM
//   rounds (RFC 5802, github.com/xdg-go/scram) against the users file.
// * A wrong password, an unknown user or a malformed message is
//   SASL_AUTHENTICATION_FAILED with Kafka's message, and the connection
//   is closed after the answer. The log names the user and the reason,
//   never a password.
// * Without a handshake first, after authentication, or on a listener
//   without SASL: ILLEGAL_SASL_STATE.
//
// Version notes:
// * v1: SessionLifetimeMillis is always 0 (sessions do not expire).
// * v2: flexible.

func init() {
	regKey(apiKey{
		key:         kmsg.SASLAuthenticate,
		min:         0,
		max:         2,
		handle:      handleSASLAuthenticate,
		wait:        answersPromptly,
		frame:       releasesFrame,
		unsupported: []string{"session expiry and re-authentication (KIP-368)", "SCRAM extensions (delegation tokens)"},
		preAuth:     true,
		authorize:   noACL,
	})
}

func handleSASLAuthenticate(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	u := cc.b.sec.users
	if u == nil || cc.auth.done || cc.auth.mech == "" {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	out, err := cc.auth.authenticate(u, req.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := saslAuthFailed(cc.auth.mech)
		resp.ErrorMessage = &msg
		cc.auth.closeAfterReply = fmt.Errorf("%w: SASL authentication failed: %v (client %q)", errCloseConn, err, cc.clientID)
		return resp, nil
	}
	resp.SASLAuthBytes = out
	if cc.auth.done {
		cc.log.Debug("refbroker: SASL authenticated", "principal", cc.auth.principal, "mechanism", cc.auth.mech)
	}
	return resp, nil
}
