package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/refbroker"
)

// writeTestFile writes content into a new file in a temp dir.
func writeTestFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTLSAndSASLLive runs a produce/consume round trip and a Crash through
// the adapter's own TLS layer and each SASL mechanism against a kfake
// cluster and a refbroker SASL_SSL listener that both require TLS and
// SASL, and checks that wrong credentials fail (on refbroker, with
// SASL_AUTHENTICATION_FAILED, as real Kafka answers).
func TestTLSAndSASLLive(t *testing.T) {
	t.Parallel()
	certFile, keyFile := adaptertest.WriteTLSFiles(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	brokers := map[string]func(t *testing.T, mech string) []string{
		"kfake": func(t *testing.T, mech string) []string {
			return newCluster(t,
				kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
				kfake.EnableSASL(),
				kfake.Superuser(mech, "alice", "s3cret"),
			).ListenAddrs()
		},
		"refbroker": func(t *testing.T, mech string) []string {
			users := writeTestFile(t, "users", "alice "+mech+" password=s3cret\n")
			return []string{newRefbroker(t, func(c *refbroker.Config) {
				c.Security = refbroker.Security{Protocol: refbroker.ProtocolSASLSSL,
					TLSCertFile: certFile, TLSKeyFile: keyFile, UsersFile: users}
			}).Addr()}
		},
	}
	for name, start := range brokers {
		for _, mech := range []string{SASLPlain, SASLScramSHA256, SASLScramSHA512} {
			t.Run(name+"/"+mech, func(t *testing.T) {
				t.Parallel()
				cfg := Config{}.Default()
				cfg.Brokers = start(t, mech)
				cfg.TLS = adapters.TLS{Enabled: true, CAFile: certFile}
				cfg.SASL = SASLConfig{Mechanism: mech, Username: "alice", Password: "s3cret"}
				ctx, cancel := context.WithTimeout(context.Background(), testWait)
				defer cancel()

				bad := cfg
				bad.SASL.Password = "wrong"
				if k, err := New(ctx, bad); err == nil {
					_ = k.Close()
					t.Error("New with a wrong password succeeded")
				} else if errors.Is(err, adapters.ErrInvalidConfig) {
					t.Errorf("wrong password reported as invalid config: %v", err)
				} else if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong") {
					t.Errorf("error leaks a password: %v", err)
				} else if name == "refbroker" && !errors.Is(err, kerr.SaslAuthenticationFailed) {
					// (kfake just hangs up, so only refbroker is held to
					// Kafka's answer.)
					t.Errorf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
				}
				roundTripAndCrash(t, cfg)
			})
		}
	}
}

// TestMutualTLSRefbroker: the adapter's client certificate settings
// against a refbroker SSL listener that requires client certificates and
// authorizes by the certificate's subject (an ACL file naming only it).
func TestMutualTLSRefbroker(t *testing.T) {
	t.Parallel()
	certFile, keyFile := adaptertest.WriteTLSFiles(t) // a self-signed CA: server and client certificate at once
	acl := writeTestFile(t, "acl", strings.Join([]string{
		"User:CN=localhost produce topic:*", "User:CN=localhost consume topic:*",
		"User:CN=localhost group group:*", "User:CN=localhost admin topic:*", ""}, "\n"))
	b := newRefbroker(t, func(c *refbroker.Config) {
		c.Security = refbroker.Security{Protocol: refbroker.ProtocolSSL,
			TLSCertFile: certFile, TLSKeyFile: keyFile, TLSClientCAFile: certFile, ACLFile: acl}
	})
	cfg := Config{}.Default()
	cfg.Brokers = []string{b.Addr()}
	cfg.TLS = adapters.TLS{Enabled: true, CAFile: certFile}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if k, err := New(ctx, cfg); err == nil {
		_ = k.Close()
		t.Fatal("New without a client certificate succeeded against a listener that requires one")
	}
	cfg.TLS.CertFile, cfg.TLS.KeyFile = certFile, keyFile
	roundTripAndCrash(t, cfg)
}

// roundTripAndCrash connects with cfg, produces and consumes five records
// and checks a consumer Crash is prompt over TLS.
func roundTripAndCrash(t *testing.T, cfg Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	k, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New over TLS/SASL: %v", err)
	}
	t.Cleanup(func() { _ = k.Close() })
	topic := newTopic(t, k, 1)
	produceN(t, k, topic, 1, 5, adapters.ProducerConfig{Acks: adapters.AcksAll, Idempotent: true})
	h := newCounter()
	c := startConsumer(t, k, consumerCfg(topic, unique("g"), h.handle))
	adaptertest.WaitFor(t, testWait, "messages over TLS", func() bool { return h.count() >= 5 })
	start := time.Now()
	if err := c.Crash(); err != nil {
		t.Fatalf("Crash: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Crash over TLS took %v", d)
	}
}
