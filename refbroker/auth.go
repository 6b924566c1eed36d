package refbroker

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
)

// anonymous is the principal of a client that neither authenticated with
// SASL nor presented a client certificate, as Kafka names it.
const anonymous = "User:ANONYMOUS"

// authState is one connection's authentication: who it is and how far
// its SASL exchange has come. Only the connection's serve goroutine uses it.
type authState struct {
	// principal is User:<name>; "" until the first request is admitted.
	principal string
	// done: no SASL is required, or it has succeeded.
	done bool
	// mech is the mechanism SaslHandshake chose; "" before.
	mech string
	// scram is the SCRAM exchange in progress.
	scram *scramExchange
	// closeAfterReply, when set, closes the connection once the current
	// response is written (a failed authentication, as Kafka does); it is
	// the logged reason.
	closeAfterReply error
}

// admit decides whether a request of key k may be served now. The first
// request fixes the connection's starting principal: the client
// certificate's subject on a TLS listener that requires one, else
// ANONYMOUS. On a SASL listener only preAuth keys pass until SASL
// succeeds; anything else closes the connection (Kafka does the same).
func (a *authState) admit(cc *conn, k *apiKey) error {
	if a.principal == "" {
		a.principal = anonymous
		if tc, ok := cc.nc.(*tls.Conn); ok {
			if peer := tc.ConnectionState().PeerCertificates; len(peer) > 0 {
				a.principal = "User:" + peer[0].Subject.String()
			}
		}
		a.done = cc.b.sec == nil || cc.b.sec.users == nil
	}
	if a.done || k.preAuth {
		return nil
	}
	return fmt.Errorf("%w: %s request before SASL authentication (client %q)", errCloseConn, k.key.Name(), cc.clientID)
}

// saslAuthFailed is the message Kafka sends with SASL_AUTHENTICATION_FAILED;
// it deliberately says nothing about which part was wrong.
func saslAuthFailed(mech string) string {
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech
}

// authenticate runs one SaslAuthenticate step with the client's bytes. It
// returns the bytes to send back, and an error when authentication
// failed; the error names the user and the reason, never a password, and
// is what gets logged.
func (a *authState) authenticate(u *users, in []byte) ([]byte, error) {
	switch a.mech {
	case MechanismPlain:
		// authzid NUL user NUL password (RFC 4616).
		parts := bytes.Split(in, []byte{0})
		if len(parts) != 3 {
			return nil, errors.New("malformed PLAIN message")
		}
		user := string(parts[1])
		if len(parts[0]) > 0 && string(parts[0]) != user {
			return nil, fmt.Errorf("user %q: authorization ID differs from the user name", user)
		}
		if !u.checkPlain(user, string(parts[2])) {
			return nil, fmt.Errorf("user %q: unknown user or wrong password", user)
		}
		a.succeed(user)
		return nil, nil
	case MechanismScramSHA256, MechanismScramSHA512:
		out, err := a.scram.step(string(in))
		if err != nil {
			return nil, err
		}
		if a.scram.done {
			a.succeed(a.scram.user)
		}
		return []byte(out), nil
	}
	return nil, fmt.Errorf("mechanism %q has no exchange", a.mech)
}

func (a *authState) succeed(user string) {
	a.principal, a.done, a.scram = "User:"+user, true, nil
}
