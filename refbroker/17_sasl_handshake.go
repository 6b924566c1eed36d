package refbroker

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SASLHandshake: v0-1
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
// * v0 is advertised, because librdkafka enables SASL only when the
//   range includes it, but not served: v0 means SASL tokens without Kafka
//   framing afterwards. It is answered UNSUPPORTED_VERSION and the
//   connection closed. Clients that see SaslAuthenticate advertised send
//   v1 (librdkafka, kgo, Sarama, kafka-go).

func init() {
	regKey(apiKey{
		key:         kmsg.SASLHandshake,
		min:         0,
		max:         1,
		handle:      handleSASLHandshake,
		wait:        answersPromptly,
		frame:       releasesFrame,
		unsupported: []string{"v0 (unframed SASL tokens): UNSUPPORTED_VERSION, then the connection is closed", "re-authentication (KIP-368): a handshake after authentication is ILLEGAL_SASL_STATE"},
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
	if req.Version == 0 {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		cc.auth.closeAfterReply = fmt.Errorf("%w: SaslHandshake v0 (unframed SASL) is not served (client %q)", errCloseConn, cc.clientID)
		return resp, nil
	}
	if !slices.Contains(resp.SupportedMechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		cc.auth.closeAfterReply = fmt.Errorf("%w: unsupported SASL mechanism %q (client %q)", errCloseConn, req.Mechanism, cc.clientID)
		return resp, nil
	}
	cc.auth.mech = req.Mechanism
	if req.Mechanism != MechanismPlain {
		cc.auth.scram = newScramExchange(req.Mechanism, u.scram[req.Mechanism])
	}
	return resp, nil
}
