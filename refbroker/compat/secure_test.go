package compat

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	kgscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/xdg-go/scram"

	"github.com/brokerbench/brokerbench/refbroker"
	"github.com/brokerbench/brokerbench/refbroker/internal/sectest"
)

// secureUsers is the users file of the secure tests; the ACL lets alice
// use topics under "secure-" and any group, and mallory nothing.
const secureUsers = "alice SCRAM-SHA-256 password=alice-secret\nalice SCRAM-SHA-512 password=alice-secret\nmallory SCRAM-SHA-512 password=m\n"

const secureACL = "User:alice produce topic:secure-*\nUser:alice consume topic:secure-*\nUser:alice admin topic:secure-*\nUser:alice group group:*\n"

// saslSSLBroker starts refbroker on SASL_SSL with pki's server
// certificate, secureUsers and secureACL, and returns its address.
func saslSSLBroker(t *testing.T, pki sectest.Files) string {
	t.Helper()
	return startBroker(t, refbroker.Security{Protocol: refbroker.ProtocolSASLSSL,
		TLSCertFile: pki.ServerCert, TLSKeyFile: pki.ServerKey,
		UsersFile: sectest.WriteFile(t, "users", secureUsers), ACLFile: sectest.WriteFile(t, "acl", secureACL)})
}

// TestKcatTLSAndSCRAM: librdkafka (kcat) produces and consumes to the end
// of the partition over SASL_SSL with SCRAM-SHA-256 and -512; a wrong
// password fails, an ACL denial is reported, and a client certificate
// authenticates on an SSL listener that requires one.
func TestKcatTLSAndSCRAM(t *testing.T) {
	t.Parallel()
	needTool(t, lookPath("kcat"), "kcat", "kcat")
	pki := sectest.WritePKI(t, "kcat-client")
	addr := saslSSLBroker(t, pki)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sasl := func(mech, user, pass string) []string {
		return []string{"-b", addr, "-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + pki.CA,
			"-X", "sasl.mechanisms=" + mech, "-X", "sasl.username=" + user, "-X", "sasl.password=" + pass}
	}
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		topic := "secure-" + strings.ToLower(mech)
		args := append(sasl(mech, "alice", "alice-secret"), "-P", "-t", topic, "-X", "acks=all",
			"-X", "enable.idempotence=true", "-X", "allow.auto.create.topics=true")
		if _, err := run(ctx, []byte("hello\n"), "kcat", args...); err != nil {
			t.Fatalf("kcat produce with %s: %v", mech, err)
		}
		out, err := run(ctx, nil, "kcat", append(sasl(mech, "alice", "alice-secret"), "-C", "-t", topic, "-o", "beginning", "-e", "-f", kcatFormat)...)
		if err != nil {
			t.Fatalf("kcat consume with %s: %v", mech, err)
		}
		if got, err := kcatRecords(out); err != nil || len(got) != 1 || got[0].Value != "hello" {
			t.Fatalf("kcat consumed %v (%v), want one record hello", got, err)
		}
		if _, err := run(ctx, nil, "kcat", append(sasl(mech, "alice", "wrong"), "-L", "-m", "5")...); err == nil ||
			!strings.Contains(err.Error(), "Authentication failed") {
			t.Fatalf("kcat with a wrong password: %v, want an authentication failure", err)
		}
	}
	// mallory authenticates but may not produce: librdkafka reports
	// Kafka's TOPIC_AUTHORIZATION_FAILED.
	_, err := run(ctx, []byte("x\n"), "kcat", append(sasl("SCRAM-SHA-512", "mallory", "m"), "-P", "-t", "secure-scram-sha-512", "-p", "0", "-X", "message.timeout.ms=5000")...)
	if err == nil || !strings.Contains(err.Error(), "Topic authorization failed") {
		t.Fatalf("kcat as a principal without produce: %v, want Topic authorization failed", err)
	}

	mtls := startBroker(t, refbroker.Security{Protocol: refbroker.ProtocolSSL,
		TLSCertFile: pki.ServerCert, TLSKeyFile: pki.ServerKey, TLSClientCAFile: pki.CA,
		ACLFile: sectest.WriteFile(t, "acl", "User:"+pki.ClientSubject+" produce topic:*\nUser:"+pki.ClientSubject+" admin topic:*\n")})
	ssl := []string{"-b", mtls, "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + pki.CA}
	withCert := append(ssl, "-X", "ssl.certificate.location="+pki.ClientCert, "-X", "ssl.key.location="+pki.ClientKey)
	if _, err := run(ctx, []byte("hi\n"), "kcat", append(withCert, "-P", "-t", "mtls", "-X", "allow.auto.create.topics=true")...); err != nil {
		t.Fatalf("kcat produce with a client certificate: %v", err)
	}
	if _, err := run(ctx, nil, "kcat", append(ssl, "-L", "-m", "5")...); err == nil {
		t.Fatal("kcat without a client certificate was served")
	}
}

// xdgSCRAM adapts github.com/xdg-go/scram to Sarama's SCRAMClient (Sarama
// leaves the SCRAM implementation to the application).
type xdgSCRAM struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (x *xdgSCRAM) Begin(user, pass, authzID string) error {
	c, err := x.hash.NewClient(user, pass, authzID)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}

func (x *xdgSCRAM) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *xdgSCRAM) Done() bool                            { return x.conv.Done() }

// TestSaramaTLSAndSCRAM: Sarama produces and consumes over SASL_SSL with
// SCRAM-SHA-512; a wrong password fails with SASL_AUTHENTICATION_FAILED,
// and a principal without produce gets TOPIC_AUTHORIZATION_FAILED.
func TestSaramaTLSAndSCRAM(t *testing.T) {
	t.Parallel()
	pki := sectest.WritePKI(t, "unused")
	addr := saslSSLBroker(t, pki)
	conf := func(user, pass string) *sarama.Config {
		c := saramaConfig("compat-secure")
		c.Net.TLS.Enable, c.Net.TLS.Config = true, pki.ClientTLS(t, false)
		c.Net.SASL.Enable, c.Net.SASL.User, c.Net.SASL.Password = true, user, pass
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{hash: scram.SHA512} }
		c.Producer.RequiredAcks = sarama.WaitForAll
		c.Producer.Return.Successes = true
		c.Metadata.AllowAutoTopicCreation = true
		return c
	}
	p, err := sarama.NewSyncProducer([]string{addr}, conf("alice", "alice-secret"))
	if err != nil {
		t.Fatalf("sarama producer over SASL_SSL: %v", err)
	}
	defer p.Close()
	const topic = "secure-sarama"
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("hello")}); err != nil {
		t.Fatalf("sarama produce: %v", err)
	}
	c, err := sarama.NewConsumer([]string{addr}, conf("alice", "alice-secret"))
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("sarama consume: %v", err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if string(m.Value) != "hello" {
			t.Fatalf("sarama consumed %q", m.Value)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sarama consumed nothing in 30s")
	}

	if _, err := sarama.NewClient([]string{addr}, conf("alice", "wrong")); !errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
		t.Fatalf("sarama with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	mp, err := sarama.NewSyncProducer([]string{addr}, conf("mallory", "m"))
	if err != nil {
		t.Fatalf("sarama producer as mallory: %v", err)
	}
	defer mp.Close()
	if _, _, err := mp.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("x")}); !errors.Is(err, sarama.ErrTopicAuthorizationFailed) {
		t.Fatalf("sarama produce as mallory: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// TestKafkaGoTLSAndSCRAM: segmentio/kafka-go writes and reads over
// SASL_SSL with SCRAM-SHA-256; a wrong password fails with
// SASL_AUTHENTICATION_FAILED.
func TestKafkaGoTLSAndSCRAM(t *testing.T) {
	t.Parallel()
	pki := sectest.WritePKI(t, "unused")
	addr := saslSSLBroker(t, pki)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mech := func(pass string) sasl.Mechanism {
		m, err := kgscram.Mechanism(kgscram.SHA256, "alice", pass)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	const topic = "secure-kafka-go"
	tr := &kafka.Transport{TLS: pki.ClientTLS(t, false), SASL: mech("alice-secret")}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, RequiredAcks: kafka.RequireAll,
		AllowAutoTopicCreation: true, BatchTimeout: 10 * time.Millisecond, Transport: tr}
	defer w.Close()
	var err error
	for range 50 { // the first write can race the auto-created topic's metadata
		if err = w.WriteMessages(ctx, kafka.Message{Value: []byte("hello")}); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond) // retry interval
	}
	if err != nil {
		t.Fatalf("kafka-go write over SASL_SSL: %v", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, MaxWait: 100 * time.Millisecond,
		Dialer: &kafka.Dialer{Timeout: 10 * time.Second, TLS: pki.ClientTLS(t, false), SASLMechanism: mech("alice-secret")}})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil || string(m.Value) != "hello" {
		t.Fatalf("kafka-go read over SASL_SSL: %q, %v", m.Value, err)
	}
	d := &kafka.Dialer{Timeout: 10 * time.Second, TLS: pki.ClientTLS(t, false), SASLMechanism: mech("wrong")}
	if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
		c.Close()
		t.Fatal("kafka-go connected with a wrong password")
	} else if !errors.Is(err, kafka.SASLAuthenticationFailed) {
		t.Fatalf("kafka-go with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
}

// TestConfluentPythonTLSAndSCRAM: confluent-kafka-python (librdkafka's
// Python front end) produces idempotently and consumes to the end of the
// partition over SASL_SSL with SCRAM-SHA-512.
func TestConfluentPythonTLSAndSCRAM(t *testing.T) {
	t.Parallel()
	needTool(t, pythonHasConfluent(), "python3 module confluent_kafka", "python3-confluent-kafka")
	pki := sectest.WritePKI(t, "unused")
	addr := saslSSLBroker(t, pki)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	e := &env{t: t, ctx: ctx, addr: addr}
	security := map[string]string{"security.protocol": "SASL_SSL", "ssl.ca.location": pki.CA,
		"sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": "alice-secret"}
	const topic = "secure-python"
	recs := sample("py", 3)
	if err := py(e, "produce", map[string]any{"topic": topic, "codec": "none", "records": recs, "security": security}, &struct{}{}); err != nil {
		t.Fatalf("produce over SASL_SSL: %v", err)
	}
	var out struct{ Records []rec }
	if err := py(e, "consume", map[string]any{"topic": topic, "security": security}, &out); err != nil {
		t.Fatalf("consume over SASL_SSL: %v", err)
	}
	if len(out.Records) != len(recs) {
		t.Fatalf("consumed %d records, want %d", len(out.Records), len(recs))
	}
	for i, r := range out.Records {
		if r.Value != recs[i].Value {
			t.Fatalf("record %d is %q, want %q", i, r.Value, recs[i].Value)
		}
	}
}
