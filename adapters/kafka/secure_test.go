package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// TestTLSAndSASLLive runs a produce/consume round trip and a Crash through
// the adapter's own TLS layer and each SASL mechanism against a kfake
// cluster that requires both, and checks that wrong credentials fail.
func TestTLSAndSASLLive(t *testing.T) {
	t.Parallel()
	certFile, keyFile := adaptertest.WriteTLSFiles(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, mech := range []string{SASLPlain, SASLScramSHA256, SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			cluster := newCluster(t,
				kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
				kfake.EnableSASL(),
				kfake.Superuser(mech, "alice", "s3cret"),
			)
			cfg := Config{}.Default()
			cfg.Brokers = cluster.ListenAddrs()
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
				// (Real Kafka answers SASL_AUTHENTICATION_FAILED, which New
				// does not classify as unavailable; kfake just hangs up, so
				// the class is not asserted here.)
				t.Errorf("wrong password reported as invalid config: %v", err)
			} else if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong") {
				t.Errorf("error leaks a password: %v", err)
			}

			k, err := New(ctx, cfg)
			if err != nil {
				t.Fatalf("New over TLS+SASL: %v", err)
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
		})
	}
}
