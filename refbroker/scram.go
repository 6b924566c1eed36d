package refbroker

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/xdg-go/scram"
)

// scramExchange is the server side of one SCRAM exchange (RFC 5802) as
// Kafka's ScramSaslServer runs it. Credentials are xdg-go/scram's stored
// form (users.go derives them with it), but the two server steps are
// done here, because xdg-go's server requires the client-final nonce to
// equal the server's exactly, while Kafka accepts one that ends with it
// and librdkafka 2.0 (Debian's kcat and confluent-kafka-python) sends its
// own nonce twice; with xdg-go's server every librdkafka client failed.
type scramExchange struct {
	mech  string
	hash  scram.HashGeneratorFcn
	creds map[string]scram.StoredCredentials

	user        string // from client-first; "" before
	cred        scram.StoredCredentials
	firstBare   string // client-first-message-bare
	serverFirst string
	nonce       string // client nonce + server nonce
	done        bool
}

func newScramExchange(mech string, creds map[string]scram.StoredCredentials) *scramExchange {
	return &scramExchange{mech: mech, hash: scramHash[mech], creds: creds}
}

var scramUnescape = strings.NewReplacer("=2C", ",", "=3D", "=")

// step answers the client's next message: the server-first message, then
// the server-final one. An error means authentication failed; it names
// the user, never the proof.
func (x *scramExchange) step(in string) (string, error) {
	switch {
	case x.done:
		return "", errors.New("exchange already complete")
	case x.user == "":
		return x.first(in)
	}
	return x.final(in)
}

// first reads gs2-header client-first-message-bare: "n,[a=authzid],n=user,r=nonce[,ext]".
func (x *scramExchange) first(in string) (string, error) {
	gs2, rest, ok := strings.Cut(in, ",")
	authz, bare, ok2 := strings.Cut(rest, ",")
	if !ok || !ok2 || (gs2 != "n" && gs2 != "y") {
		return "", errors.New("malformed client-first message (channel binding is not supported)")
	}
	fields := strings.Split(bare, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "n=") || !strings.HasPrefix(fields[1], "r=") || len(fields[1]) < 3 {
		return "", errors.New("malformed client-first message")
	}
	if len(fields) > 2 {
		return "", errors.New("SCRAM extensions (delegation tokens) are not supported")
	}
	x.user = scramUnescape.Replace(fields[0][2:])
	if x.user == "" {
		return "", errors.New("empty user name")
	}
	if authz != "" && scramUnescape.Replace(strings.TrimPrefix(authz, "a=")) != x.user {
		return "", fmt.Errorf("user %q: authorization ID differs from the user name", x.user)
	}
	cred, ok := x.creds[x.user]
	if !ok {
		return "", fmt.Errorf("user %q: unknown user for %s", x.user, x.mech)
	}
	var snonce [24]byte
	_, _ = rand.Read(snonce[:]) // crypto/rand.Read never fails
	x.cred, x.firstBare = cred, bare
	x.nonce = fields[1][2:] + base64.RawURLEncoding.EncodeToString(snonce[:])
	x.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", x.nonce, base64.StdEncoding.EncodeToString([]byte(cred.Salt)), cred.Iters)
	return x.serverFirst, nil
}

// final reads "c=<b64 gs2 header>,r=<nonce>,p=<b64 proof>" and checks the
// proof against the stored key.
func (x *scramExchange) final(in string) (string, error) {
	x.done = true
	withoutProof, proof64, ok := strings.Cut(in, ",p=")
	fields := strings.Split(withoutProof, ",")
	if !ok || len(fields) < 2 || !strings.HasPrefix(fields[0], "c=") || !strings.HasPrefix(fields[1], "r=") {
		return "", fmt.Errorf("user %q: malformed client-final message", x.user)
	}
	if cb := fields[0][2:]; cb != "biws" && cb != "eSws" { // base64 "n,," and "y,,"
		return "", fmt.Errorf("user %q: channel binding is not supported", x.user)
	}
	// Kafka's check (ScramSaslServer): the nonce must end with ours.
	if !strings.HasSuffix(fields[1][2:], x.nonce) {
		return "", fmt.Errorf("user %q: client-final nonce does not match", x.user)
	}
	proof, err := base64.StdEncoding.DecodeString(proof64)
	if err != nil || len(proof) != len(x.cred.StoredKey) {
		return "", fmt.Errorf("user %q: malformed proof", x.user)
	}
	authMsg := []byte(x.firstBare + "," + x.serverFirst + "," + withoutProof)
	sig := hmac.New(x.hash, x.cred.StoredKey)
	sig.Write(authMsg)
	clientKey := sig.Sum(nil)
	for i := range clientKey {
		clientKey[i] ^= proof[i]
	}
	h := x.hash()
	h.Write(clientKey)
	if subtle.ConstantTimeCompare(h.Sum(nil), x.cred.StoredKey) != 1 {
		return "", fmt.Errorf("user %q: wrong password (%s proof invalid)", x.user, x.mech)
	}
	srv := hmac.New(x.hash, x.cred.ServerKey)
	srv.Write(authMsg)
	return "v=" + base64.StdEncoding.EncodeToString(srv.Sum(nil)), nil
}
