package refbrokercli

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/brokerbench/brokerbench/refbroker"
	"github.com/brokerbench/brokerbench/refbroker/internal/sectest"
	"github.com/brokerbench/brokerbench/refbroker/storage"
)

func TestParseFlagsErrorsNameTheFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		flag string
	}{
		{[]string{"--partitions", "0"}, "partitions"},
		{[]string{"--partitions", "x"}, "partitions"},
		{[]string{"--fsync", "sometimes"}, "fsync"},
		{[]string{"--segment-bytes", "10"}, "segment-bytes"},
		{[]string{"--retention-bytes", "-5"}, "retention-bytes"},
		{[]string{"--retention", "-1h"}, "retention"},
		{[]string{"--max-request-bytes", "12"}, "max-request-bytes"},
		{[]string{"--max-create-topics-per-request", "0"}, "max-create-topics-per-request"},
		{[]string{"--partitions", "4", "--max-create-partitions-per-request", "3"}, "max-create-partitions-per-request"},
		{[]string{"--partition-creations-per-minute", "-2"}, "partition-creations-per-minute"},
		{[]string{"--listen", "nonsense"}, "listen"},
		{[]string{"--advertise", "host-only"}, "advertise"},
		{[]string{"--auto-create-topics=maybe"}, "auto-create-topics"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--security-protocol", "TLS"}, "security-protocol"},
		{[]string{"--security-protocol", "SSL"}, "tls-cert"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, "security-protocol"},
		{[]string{"--security-protocol", "SASL_PLAINTEXT"}, "sasl-users"},
		{[]string{"--sasl-users", "users"}, "security-protocol"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			_, err := parseFlags(tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.flag) {
				t.Fatalf("error %v does not name flag %q", err, tt.flag)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	cfg, err := parseFlags([]string{"--data-dir", "/tmp/x", "--listen", "127.0.0.1:0", "--partitions", "4",
		"--auto-create-topics=false", "--fsync", "always", "--retention", "2h", "--segment-bytes", "1048576",
		"--security-protocol", "SASL_SSL", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "ca.pem",
		"--sasl-users", "users", "--acl-file", "acl"}, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	if cfg.DataDir != "/tmp/x" || cfg.DefaultPartitions != 4 || *cfg.AutoCreateTopics || cfg.Storage.Fsync != storage.FsyncAlways ||
		cfg.Storage.Retention != 2*time.Hour || cfg.Storage.SegmentBytes != 1<<20 ||
		cfg.Security != (refbroker.Security{Protocol: "SASL_SSL", TLSCertFile: "c.pem", TLSKeyFile: "k.pem", TLSClientCAFile: "ca.pem", UsersFile: "users", ACLFile: "acl"}) {
		t.Fatalf("unexpected config %+v", cfg)
	}
}

func TestRunExitsTwoOnBadFlags(t *testing.T) {
	t.Parallel()
	var stderr strings.Builder
	if code := run(t.Context(), []string{"--partitions", "-3"}, &stderr); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "--partitions") {
		t.Fatalf("stderr %q does not name the flag", stderr.String())
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--data-dir", t.TempDir(), "--listen", addr, "--segment-bytes", "1048576", "--log-level", "warn"}, io.Discard)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("run exited early with %d", code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker never listened on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d after graceful shutdown, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// TestRunSecureListener: the security flags reach the broker: a
// SASL_SSL listener started from flags serves a SCRAM-SHA-512 kgo client
// over TLS, authorizes it by the ACL file, and refuses a wrong password.
func TestRunSecureListener(t *testing.T) {
	t.Parallel()
	pki := sectest.WritePKI(t, "unused")
	users := sectest.WriteFile(t, "users", "alice SCRAM-SHA-512 password=alice-secret\n")
	acl := sectest.WriteFile(t, "acl", "User:alice admin topic:*\n")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--data-dir", t.TempDir(), "--listen", addr, "--segment-bytes", "1048576", "--log-level", "warn",
			"--security-protocol", "SASL_SSL", "--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey,
			"--sasl-users", users, "--acl-file", acl}, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit code %d after graceful shutdown, want 0", code)
		}
	})
	client := func(pass string) *kadm.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(pki.ClientTLS(t, false)),
			kgo.SASL(scram.Auth{User: "alice", Pass: pass}.AsSha512Mechanism()), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return kadm.NewClient(cl)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := client("alice-secret").CreateTopic(t.Context(), 1, 1, nil, "from-flags")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("create a topic over SASL_SSL: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval while the broker starts
	}
	if _, err := client("alice-secret").DeleteTopic(t.Context(), "from-flags"); err != nil {
		t.Fatalf("delete a topic: %v", err)
	}
	if _, err := client("wrong").ListTopics(t.Context()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
}

// TestScramCredentialCommand: "refbroker scram-credential" prints a
// users-file line without the password that a broker accepts for that
// password; bad input exits 2 with a message.
func TestScramCredentialCommand(t *testing.T) {
	t.Parallel()
	var out, errOut strings.Builder
	code := scramCredential([]string{"--mechanism", "SCRAM-SHA-512", "--user", "bob", "--iterations", "8192"},
		strings.NewReader("bob secret\n"), &out, &errOut)
	if code != 0 || strings.Contains(out.String(), "secret") || !strings.HasPrefix(out.String(), "bob SCRAM-SHA-512 salt=") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	users := sectest.WriteFile(t, "users", out.String())
	b, err := refbroker.Start(t.Context(), refbroker.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Security: refbroker.Security{Protocol: refbroker.ProtocolSASLPlaintext, UsersFile: users}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.SASL(scram.Auth{User: "bob", Pass: "bob secret"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).ListTopics(t.Context()); err != nil {
		t.Fatalf("authenticate with the printed credential: %v", err)
	}

	for _, tt := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"--user", "bob"}, "", "no password"},
		{[]string{"--mechanism", "PLAIN", "--user", "bob"}, "x\n", "--mechanism"},
		{[]string{"--user", "bob", "--iterations", "10"}, "x\n", "iterations"},
		{nil, "x\n", "--user is required"},
	} {
		var out, errOut strings.Builder
		if code := scramCredential(tt.args, strings.NewReader(tt.stdin), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tt.args, code, errOut.String(), tt.want)
		}
	}
}

// freeAddr reserves a free loopback port and releases it; the tiny window
// before run binds it again is acceptable for a test.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
