package refbroker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/brokerbench/brokerbench/refbroker/internal/sectest"
)

// testUsers is a users file with every credential form: PLAIN, SCRAM
// derived at load (with and without iterations), and SCRAM stored form.
func testUsers(t *testing.T) string {
	t.Helper()
	stored, err := ScramCredential(MechanismScramSHA512, "carol", "carol pass,with=odd chars", 8192)
	if err != nil {
		t.Fatal(err)
	}
	return sectest.WriteFile(t, "users", strings.Join([]string{
		"# user mechanism credential",
		"alice PLAIN password=alice-secret",
		"alice SCRAM-SHA-256 password=alice-secret",
		"bob   SCRAM-SHA-256 iterations=8192,password=bob secret",
		"bob   SCRAM-SHA-512 password=bob secret",
		"carol SCRAM-SHA-512 " + stored,
		"admin PLAIN password=admin-secret",
		"",
	}, "\n"))
}

// saslMech builds a franz-go client mechanism.
func saslMech(mech, user, pass string) sasl.Mechanism {
	switch mech {
	case MechanismPlain:
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case MechanismScramSHA256:
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	}
	return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
}

// roundTrip produces one record to a new topic and reads it back with cl.
func roundTrip(t *testing.T, cl *kgo.Client, topic string) {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	cl.AddConsumeTopics(topic)
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume %s: %v", topic, err)
		}
		if fs.NumRecords() > 0 {
			if v := string(fs.Records()[0].Value); v != "v" {
				t.Fatalf("consumed %q, want v", v)
			}
			return
		}
	}
}

// TestTLSListener: an SSL listener serves a kgo client that trusts its
// CA; a plaintext client gets nowhere, and a listener requiring client
// certificates refuses a client without one and names one with one by
// its certificate subject (checked through an ACL on that principal).
func TestTLSListener(t *testing.T) {
	t.Parallel()
	pki := sectest.WritePKI(t, "alice")
	b := newBroker(t, func(c *Config) {
		c.Security = Security{Protocol: ProtocolSSL, TLSCertFile: pki.ServerCert, TLSKeyFile: pki.ServerKey}
	})
	roundTrip(t, newClient(t, b, kgo.DialTLSConfig(pki.ClientTLS(t, false))), "tls-topic")

	plainCl := newClient(t, b, kgo.RequestRetries(0))
	ctx := testCtx(t, 3*time.Second)
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, plainCl); err == nil {
		t.Fatal("a plaintext client got an answer from an SSL listener")
	}

	acl := sectest.WriteFile(t, "acl", fmt.Sprintf("User:%s produce topic:mtls-\nUser:%s consume topic:mtls-*\nUser:%s admin topic:*\n",
		pki.ClientSubject, pki.ClientSubject, pki.ClientSubject))
	mb := newBroker(t, func(c *Config) {
		c.Security = Security{Protocol: ProtocolSSL, TLSCertFile: pki.ServerCert, TLSKeyFile: pki.ServerKey,
			TLSClientCAFile: pki.CA, ACLFile: acl}
	})
	noCert := newClient(t, mb, kgo.DialTLSConfig(pki.ClientTLS(t, false)), kgo.RequestRetries(0))
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(testCtx(t, 3*time.Second), noCert); err == nil {
		t.Fatal("a client without a certificate was served by a listener that requires one")
	}
	withCert := newClient(t, mb, kgo.DialTLSConfig(pki.ClientTLS(t, true)), kgo.AllowAutoTopicCreation())
	// The ACL allows produce to exactly "mtls-": the principal is the
	// certificate subject, or this would be TOPIC_AUTHORIZATION_FAILED.
	ctx = testCtx(t, 20*time.Second)
	if err := withCert.ProduceSync(ctx, &kgo.Record{Topic: "mtls-", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce with a client certificate: %v", err)
	}
	err := withCert.ProduceSync(ctx, &kgo.Record{Topic: "mtls-other", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce to a topic the ACL does not allow: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// TestSASLMechanisms: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (derived at
// load and stored form) authenticate kgo clients over SASL_SSL and
// SASL_PLAINTEXT; a wrong password or an unknown user is
// SASL_AUTHENTICATION_FAILED, and the log never holds a password.
func TestSASLMechanisms(t *testing.T) {
	t.Parallel()
	pki := sectest.WritePKI(t, "unused")
	users := testUsers(t)
	var logs syncBuffer
	for _, proto := range []string{ProtocolSASLSSL, ProtocolSASLPlaintext} {
		b := newBroker(t, func(c *Config) {
			c.Security = Security{Protocol: proto, UsersFile: users}
			if proto == ProtocolSASLSSL {
				c.Security.TLSCertFile, c.Security.TLSKeyFile = pki.ServerCert, pki.ServerKey
			}
			c.Logger = logs.logger()
		})
		for _, tc := range []struct{ mech, user, pass string }{
			{MechanismPlain, "alice", "alice-secret"},
			{MechanismScramSHA256, "alice", "alice-secret"},
			{MechanismScramSHA256, "bob", "bob secret"},
			{MechanismScramSHA512, "bob", "bob secret"},
			{MechanismScramSHA512, "carol", "carol pass,with=odd chars"},
		} {
			t.Run(proto+"/"+tc.mech+"/"+tc.user, func(t *testing.T) {
				opts := []kgo.Opt{kgo.SASL(saslMech(tc.mech, tc.user, tc.pass))}
				if proto == ProtocolSASLSSL {
					opts = append(opts, kgo.DialTLSConfig(pki.ClientTLS(t, false)))
				}
				roundTrip(t, newClient(t, b, opts...), "sasl-"+tc.user+"-"+strings.ToLower(tc.mech))

				for _, bad := range []struct{ user, pass string }{{tc.user, "wrong-password"}, {"mallory", tc.pass}} {
					opts := []kgo.Opt{kgo.SASL(saslMech(tc.mech, bad.user, bad.pass)), kgo.RequestRetries(0)}
					if proto == ProtocolSASLSSL {
						opts = append(opts, kgo.DialTLSConfig(pki.ClientTLS(t, false)))
					}
					cl := newClient(t, b, opts...)
					_, err := kmsg.NewPtrMetadataRequest().RequestWith(testCtx(t, 5*time.Second), cl)
					if !errors.Is(err, kerr.SaslAuthenticationFailed) {
						t.Errorf("%s as %s with a bad credential: %v, want SASL_AUTHENTICATION_FAILED", tc.mech, bad.user, err)
					}
				}
			})
		}
	}
	out := logs.String()
	for _, secret := range []string{"alice-secret", "bob secret", "carol pass", "wrong-password"} {
		if strings.Contains(out, secret) {
			t.Errorf("the broker log holds a password (%q)", secret)
		}
	}
	if !strings.Contains(out, "SASL authentication failed") {
		t.Errorf("failed authentications are not logged:\n%s", out)
	}
}

// rawOn sends req on c and decodes the answer.
func rawOn(t *testing.T, c net.Conn, req kmsg.Request, corr int32) kmsg.Response {
	t.Helper()
	if _, err := c.Write(requestFrame(req, corr)); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, body := readResponse(t, c)
	if got != corr {
		t.Fatalf("correlation ID %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode %T: %v", resp, err)
	}
	return resp
}

// TestSASLStateMachine: on a SASL listener only ApiVersions, SaslHandshake
// and SaslAuthenticate are served before authentication (KIP-152); any
// other request closes the connection. Out-of-order steps are
// ILLEGAL_SASL_STATE, an unknown mechanism UNSUPPORTED_SASL_MECHANISM;
// on a listener without SASL both SASL keys are ILLEGAL_SASL_STATE.
func TestSASLStateMachine(t *testing.T) {
	t.Parallel()
	b := newBroker(t, func(c *Config) {
		c.Security = Security{Protocol: ProtocolSASLPlaintext, UsersFile: testUsers(t)}
	})
	handshake := func(mech string) *kmsg.SASLHandshakeRequest {
		r := kmsg.NewPtrSASLHandshakeRequest()
		r.Version, r.Mechanism = 1, mech
		return r
	}
	authenticate := func(b []byte) *kmsg.SASLAuthenticateRequest {
		r := kmsg.NewPtrSASLAuthenticateRequest()
		r.Version, r.SASLAuthBytes = 1, b
		return r
	}

	t.Run("request before authentication closes the connection", func(t *testing.T) {
		c := dialRaw(t, b)
		av := kmsg.NewPtrApiVersionsRequest()
		if r := rawOn(t, c, av, 1).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
			t.Fatalf("ApiVersions before authentication: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 4
		if _, err := c.Write(requestFrame(md, 2)); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
	})
	t.Run("authenticate before handshake", func(t *testing.T) {
		c := dialRaw(t, b)
		r := rawOn(t, c, authenticate([]byte("\x00alice\x00alice-secret")), 1).(*kmsg.SASLAuthenticateResponse)
		if r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("SaslAuthenticate without a handshake: %v, want ILLEGAL_SASL_STATE", kerr.ErrorForCode(r.ErrorCode))
		}
	})
	t.Run("unsupported mechanism", func(t *testing.T) {
		c := dialRaw(t, b)
		r := rawOn(t, c, handshake("GSSAPI"), 1).(*kmsg.SASLHandshakeResponse)
		if r.ErrorCode != kerr.UnsupportedSaslMechanism.Code {
			t.Fatalf("handshake GSSAPI: %v, want UNSUPPORTED_SASL_MECHANISM", kerr.ErrorForCode(r.ErrorCode))
		}
		want := []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512}
		if fmt.Sprint(r.SupportedMechanisms) != fmt.Sprint(want) {
			t.Errorf("SupportedMechanisms %v, want %v", r.SupportedMechanisms, want)
		}
		expectClosed(t, c)
	})
	t.Run("PLAIN, then a second handshake", func(t *testing.T) {
		c := dialRaw(t, b)
		if r := rawOn(t, c, handshake(MechanismPlain), 1).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
			t.Fatalf("handshake: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if r := rawOn(t, c, authenticate([]byte("\x00alice\x00alice-secret")), 2).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != 0 {
			t.Fatalf("authenticate: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if r := rawOn(t, c, handshake(MechanismPlain), 3).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("handshake after authentication: %v, want ILLEGAL_SASL_STATE", kerr.ErrorForCode(r.ErrorCode))
		}
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 4
		rawOn(t, c, md, 4) // served once authenticated
	})
	t.Run("wrong PLAIN password closes after the answer", func(t *testing.T) {
		c := dialRaw(t, b)
		rawOn(t, c, handshake(MechanismPlain), 1)
		r := rawOn(t, c, authenticate([]byte("\x00alice\x00nope")), 2).(*kmsg.SASLAuthenticateResponse)
		if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil || strings.Contains(*r.ErrorMessage, "nope") {
			t.Fatalf("wrong password: code %v message %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
		}
		expectClosed(t, c)
	})
	t.Run("SASL keys on a PLAINTEXT listener", func(t *testing.T) {
		pb := newBroker(t)
		c := dialRaw(t, pb)
		if r := rawOn(t, c, handshake(MechanismPlain), 1).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("handshake on PLAINTEXT: %v, want ILLEGAL_SASL_STATE", kerr.ErrorForCode(r.ErrorCode))
		}
		if r := rawOn(t, c, authenticate(nil), 2).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("authenticate on PLAINTEXT: %v, want ILLEGAL_SASL_STATE", kerr.ErrorForCode(r.ErrorCode))
		}
	})
}

// TestACLDenials: with an ACL file, each kind of permission is enforced
// through kgo/kadm with the error code Kafka clients expect.
func TestACLDenials(t *testing.T) {
	t.Parallel()
	users := sectest.WriteFile(t, "users", "prod PLAIN password=p\ncons PLAIN password=c\nadmin PLAIN password=a\nnobody PLAIN password=n\n")
	acl := sectest.WriteFile(t, "acl", strings.Join([]string{
		"User:prod  produce topic:orders",
		"User:cons  consume topic:orders",
		"User:cons  group   group:billing-*",
		"User:admin admin   topic:*",
		"User:admin admin   cluster",
		"User:admin group   group:*",
		"User:admin consume topic:*",
		"",
	}, "\n"))
	b := newBroker(t, func(c *Config) {
		c.Security = Security{Protocol: ProtocolSASLPlaintext, UsersFile: users, ACLFile: acl}
	})
	as := func(user, pass string, opts ...kgo.Opt) *kgo.Client {
		return newClient(t, b, append([]kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()), kgo.RequestRetries(1)}, opts...)...)
	}
	ctx := testCtx(t, 30*time.Second)
	admin := kadm.NewClient(as("admin", "a"))
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatalf("admin creates orders: %v", err)
	}

	t.Run("produce", func(t *testing.T) {
		prod := as("prod", "p", kgo.DisableIdempotentWrite())
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("1")}).FirstErr(); err != nil {
			t.Fatalf("prod produces to orders: %v", err)
		}
		cons := as("cons", "c", kgo.DisableIdempotentWrite())
		if err := cons.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("2")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("cons produces to orders: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		// An idempotent producer needs produce somewhere: cons has none.
		idem := as("cons", "c")
		if err := idem.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("3")}).FirstErr(); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("cons as idempotent producer: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
		}
		idemOK := as("prod", "p")
		if err := idemOK.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("4")}).FirstErr(); err != nil {
			t.Fatalf("prod as idempotent producer: %v", err)
		}
	})

	td, err := admin.ListTopics(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	ordersID := td["orders"].ID

	t.Run("consume", func(t *testing.T) {
		fetch := func(cl *kgo.Client) int16 {
			req := kmsg.NewPtrFetchRequest()
			req.Version, req.MaxWaitMillis, req.MaxBytes = 11, 10, 1<<20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "orders", ordersID // kgo sends the newest version: IDs
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			p := resp.Topics[0].Partitions[0]
			if p.RecordBatches == nil {
				t.Error("fetch partition has null records")
			}
			return p.ErrorCode
		}
		if code := fetch(as("cons", "c")); code != 0 {
			t.Fatalf("cons fetches orders: %v", kerr.ErrorForCode(code))
		}
		if code := fetch(as("prod", "p")); code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("prod fetches orders: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
		}
	})

	t.Run("groups", func(t *testing.T) {
		commit := func(user, pass, group string) error {
			adm := kadm.NewClient(as(user, pass))
			var os kadm.Offsets
			os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 1})
			r, err := adm.CommitOffsets(ctx, group, os)
			if err != nil {
				return err
			}
			return r.Error()
		}
		if err := commit("cons", "c", "billing-1"); err != nil {
			t.Fatalf("cons commits to billing-1: %v", err)
		}
		if err := commit("cons", "c", "other"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Fatalf("cons commits to group other: %v, want GROUP_AUTHORIZATION_FAILED", err)
		}
		if err := commit("prod", "p", "billing-1"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Fatalf("prod commits to billing-1: %v, want GROUP_AUTHORIZATION_FAILED", err)
		}
		// A consumer group member: joining needs the group permission.
		cl := as("cons", "c", kgo.ConsumerGroup("other"), kgo.ConsumeTopics("orders"))
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Fatalf("cons joins group other: %v, want GROUP_AUTHORIZATION_FAILED", err)
		}
	})

	t.Run("admin", func(t *testing.T) {
		prod := kadm.NewClient(as("prod", "p"))
		if _, err := prod.CreateTopic(ctx, 1, 1, nil, "orders-new"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("prod creates a topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		if _, err := prod.DeleteTopic(ctx, "orders"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("prod deletes orders: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		r, err := prod.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("1000")}}, "orders")
		if err == nil {
			var rr kadm.AlterConfigsResponse
			rr, err = r.On("orders", nil)
			if err == nil {
				err = rr.Err
			}
		}
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("prod alters orders' configs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		br, err := prod.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: kadm.StringPtr("1000")}}, 0)
		if err == nil && len(br) > 0 {
			err = br[0].Err
		}
		if !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Errorf("prod alters broker configs: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
		}
		if _, err := admin.CreateTopic(ctx, 1, 1, nil, "scratch"); err != nil {
			t.Errorf("admin creates a topic: %v", err)
		}
		if _, err := admin.DeleteTopic(ctx, "scratch"); err != nil {
			t.Errorf("admin deletes a topic: %v", err)
		}
	})

	t.Run("metadata shows only permitted topics", func(t *testing.T) {
		td, err := kadm.NewClient(as("nobody", "n")).ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(td) != 0 {
			t.Errorf("nobody sees topics %v", td.Names())
		}
		td, err = kadm.NewClient(as("prod", "p")).ListTopics(ctx)
		if err != nil || !td.Has("orders") {
			t.Errorf("prod lists topics: %v %v, want orders", td.Names(), err)
		}
		// Auto-create needs admin: for prod an unknown topic stays unknown.
		req := kmsg.NewPtrMetadataRequest()
		req.Version, req.AllowAutoTopicCreation = 9, true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("orders-auto")
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, as("prod", "p"))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Topics[0].ErrorCode; got != kerr.TopicAuthorizationFailed.Code {
			t.Errorf("metadata for a topic prod may not see: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(got))
		}
		if b.topics.lookup("orders-auto") != nil {
			t.Error("metadata auto-created a topic for a principal without admin")
		}
	})
}

// TestSecurityFilesErrors: bad users and ACL files stop Start with the
// file and line at fault and without echoing a password.
func TestSecurityFilesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, users, acl, want string
	}{
		{"unknown mechanism", "alice GSSAPI password=hunter2\n", "", "line 1: mechanism \"GSSAPI\""},
		{"PLAIN without password", "alice PLAIN hunter2\n", "", "line 1: a PLAIN credential is password="},
		{"iterations too low", "# c\nalice SCRAM-SHA-256 iterations=10,password=hunter2\n", "", "line 2: SCRAM-SHA-256 credential of user \"alice\": iterations=10"},
		{"stored key of the wrong size", "alice SCRAM-SHA-512 salt=c2FsdA==,stored_key=c2FsdA==,server_key=c2FsdA==,iterations=4096\n", "", "must be 64 bytes"},
		{"duplicate", "alice PLAIN password=hunter2\nalice PLAIN password=hunter2\n", "", "line 2: user \"alice\" has a second PLAIN credential"},
		{"empty", "# nobody\n", "", "defines no user"},
		{"ACL operation", "alice PLAIN password=hunter2\n", "User:alice write topic:x\n", "line 1: operation \"write\""},
		{"ACL resource", "alice PLAIN password=hunter2\n", "\nUser:alice produce group:x\n", "line 2: operation produce does not apply to group:x"},
		{"ACL principal", "alice PLAIN password=hunter2\n", "alice produce topic:x\n", "principal \"alice\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: testLogger(),
				Security: Security{Protocol: ProtocolSASLPlaintext, UsersFile: sectest.WriteFile(t, "users", tt.users)}}
			if tt.acl != "" {
				cfg.Security.ACLFile = sectest.WriteFile(t, "acl", tt.acl)
			}
			b, err := Start(context.Background(), cfg)
			if err == nil {
				_ = b.Close()
				t.Fatal("Start accepted the file")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("Start: %v\nwant it to contain %q and no password", err, tt.want)
			}
		})
	}
	for _, s := range []Security{
		{Protocol: "TLS"},
		{Protocol: ProtocolSSL},
		{Protocol: ProtocolPlaintext, TLSCertFile: "c", TLSKeyFile: "k"},
		{Protocol: ProtocolSASLPlaintext},
		{Protocol: ProtocolPlaintext, UsersFile: "u"},
	} {
		cfg := Config{DataDir: "d", Security: s}.Default()
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidConfig", s, err)
		}
	}
}

// syncBuffer is a log sink safe for the broker's concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *syncBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(s, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
