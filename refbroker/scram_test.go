package refbroker

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// FuzzSCRAMExchange: whatever two messages a client sends, the server
// side of SCRAM neither panics nor authenticates without the password.
func FuzzSCRAMExchange(f *testing.F) {
	cred, err := deriveScram(MechanismScramSHA256, "alice", "alice-secret", minScramIterations)
	if err != nil {
		f.Fatal(err)
	}
	creds := map[string]scram.StoredCredentials{"alice": cred}
	f.Add("n,,n=alice,r=abc", "c=biws,r=abc,p=AAAA")
	f.Add("n,a=alice,n=alice,r=x,ext=1", "c=eSws,r=,p=")
	f.Add("y,,n=al=2Cice,r=", ",p=")
	f.Fuzz(func(t *testing.T, first, final string) {
		x := newScramExchange(MechanismScramSHA256, creds)
		if _, err := x.step(first); err != nil {
			return
		}
		if _, err := x.step(final); err == nil && !strings.Contains(final, "p=") {
			t.Fatalf("authenticated without a proof: %q then %q", first, final)
		}
		if _, err := x.step("again"); err == nil {
			t.Fatal("a third step succeeded")
		}
	})
}

// TestSCRAMExchangeAcceptsLibrdkafkaNonce: the client-final nonce may end
// with the server's rather than equal it (Kafka's check; librdkafka 2.0
// sends its own nonce twice), and the proof still decides.
func TestSCRAMExchangeAcceptsLibrdkafkaNonce(t *testing.T) {
	t.Parallel()
	cred, err := deriveScram(MechanismScramSHA512, "alice", "alice-secret", minScramIterations)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pass string
		doubled    bool
		ok         bool
	}{
		{"exact nonce", "alice-secret", false, true},
		{"doubled client nonce", "alice-secret", true, true},
		{"wrong password", "nope", false, false},
		{"wrong password, doubled nonce", "nope", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newScramExchange(MechanismScramSHA512, map[string]scram.StoredCredentials{"alice": cred})
			cl, err := scram.SHA512.NewClient("alice", tc.pass, "")
			if err != nil {
				t.Fatal(err)
			}
			conv := cl.NewConversation()
			c1, _ := conv.Step("")
			s1, err := x.step(c1)
			if err != nil {
				t.Fatalf("server-first: %v", err)
			}
			c2, err := conv.Step(s1)
			if err != nil {
				t.Fatal(err)
			}
			if tc.doubled {
				// What librdkafka 2.0 sends: r=<client nonce><server nonce
				// that already starts with the client nonce>. The client
				// proof covers the message as sent, so recompute it.
				cnonce := strings.TrimPrefix(strings.Split(c1, ",")[3], "r=")
				c2 = resign(t, tc.pass, c1, s1, strings.Replace(strings.Split(c2, ",p=")[0], "r=", "r="+cnonce, 1))
			}
			_, err = x.step(c2)
			if (err == nil) != tc.ok {
				t.Fatalf("final step: %v, want success %v", err, tc.ok)
			}
		})
	}
}

// resign returns the SCRAM-SHA-512 client-final message for a chosen
// client-final-without-proof (RFC 5802 section 3).
func resign(t *testing.T, pass, c1, s1, withoutProof string) string {
	t.Helper()
	var salt []byte
	iters := 0
	for _, f := range strings.Split(s1, ",") {
		switch {
		case strings.HasPrefix(f, "s="):
			salt, _ = base64.StdEncoding.DecodeString(f[2:])
		case strings.HasPrefix(f, "i="):
			iters, _ = strconv.Atoi(f[2:])
		}
	}
	salted, err := pbkdf2.Key(sha512.New, pass, salt, iters, sha512.Size)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha512.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := sha512.Sum512(clientKey)
	sig := mac(stored[:], strings.TrimPrefix(c1, "n,,")+","+s1+","+withoutProof)
	for i := range sig {
		sig[i] ^= clientKey[i]
	}
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(sig)
}
