package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"github.com/brokerbench/brokerbench/adapters"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanism names accepted in SASLConfig.Mechanism (case-insensitive).
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Config holds the connection settings of a Kafka (or Kafka-protocol, such
// as refbroker) cluster. Build it with Default or ConfigFromEnv, then adjust
// fields; New validates it. A Config is a plain value and safe to copy; its
// String method redacts the SASL password.
type Config struct {
	// Name labels the system in results and on the command line. Default
	// "kafka"; the CLI sets "refbroker" for the embedded broker.
	Name string
	// Server, if set, is what Info reports as the server instead of a
	// version guessed from ApiVersions; the CLI sets it for the embedded
	// refbroker, whose API ranges match no Kafka release.
	Server string
	// Brokers are the bootstrap brokers as host:port; a missing port means
	// 9092. Default ["127.0.0.1:9092"].
	Brokers []string
	// ClientID prefixes the Kafka client.id of every client the adapter
	// creates (producer and consumer ids are appended). Default "brokerbench".
	ClientID string
	// ReplicationFactor for CreateTopic. Default -1, which asks the broker
	// for its default.replication.factor (Kafka 2.4+, KIP-464); kfake and
	// refbroker accept -1 and 1. Set 3 explicitly for a durable cluster test.
	ReplicationFactor int16
	// DialTimeout bounds each TCP (and TLS) connection attempt. Default 10s.
	DialTimeout time.Duration
	// Dialer, if set, opens every broker connection, per role
	// (adapters.RoleDialer: admin, producers, consumers), e.g. through the
	// chaos package's proxies; TLS is layered on top of what it returns.
	// Default net.Dialer.
	Dialer adapters.RoleDialer
	// TLS configures encryption; disabled by default.
	TLS TLSConfig
	// SASL configures authentication; disabled by default.
	SASL SASLConfig
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	// Enabled turns TLS on. Setting any file below also requires Enabled.
	Enabled bool
	// CAFile is a PEM file of CAs to trust instead of the system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for mutual
	// TLS; set both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name verified in the broker's certificate;
	// default is the host of the address being dialed.
	ServerName string
	// InsecureSkipVerify disables certificate verification (tests only).
	InsecureSkipVerify bool
}

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	// Mechanism is "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Empty
	// disables SASL.
	Mechanism string
	// Username and Password are the credentials. They never appear in
	// errors, Info or String output.
	Username, Password string
}

// Default returns the default configuration: one broker at 127.0.0.1:9092,
// no TLS, no SASL, broker-default replication.
func Default() Config {
	return Config{
		Name:              "kafka",
		Brokers:           []string{"127.0.0.1:9092"},
		ClientID:          "brokerbench",
		ReplicationFactor: -1,
		DialTimeout:       10 * time.Second,
	}
}

// String describes c without credentials.
func (c Config) String() string {
	pw := ""
	if c.SASL.Password != "" {
		pw = "xxxxx"
	}
	return fmt.Sprintf("kafka.Config{Name:%q Brokers:%v ClientID:%q ReplicationFactor:%d TLS:%t SASL:%q User:%q Password:%q}",
		c.Name, c.Brokers, c.ClientID, c.ReplicationFactor, c.TLS.Enabled, c.SASL.Mechanism, c.SASL.Username, pw)
}

// GoString is String, so that %#v does not print the password either.
func (c Config) GoString() string { return c.String() }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// Validate checks every setting, reads the TLS files, and returns an error
// wrapping ErrInvalidConfig that names the first bad setting and its fix.
func (c Config) Validate() error {
	if c.Name == "" {
		return invalid("Name is empty; set it (for example \"kafka\") or start from Default()")
	}
	if len(c.Brokers) == 0 {
		return invalid("Brokers is empty; set at least one host:port (BROKERBENCH_KAFKA_BROKERS)")
	}
	for _, b := range c.Brokers {
		if err := validateBroker(b); err != nil {
			return err
		}
	}
	if c.ReplicationFactor == 0 || c.ReplicationFactor < -1 {
		return invalid("ReplicationFactor %d: use -1 for the broker default or a positive count", c.ReplicationFactor)
	}
	if c.DialTimeout < 0 {
		return invalid("DialTimeout %v is negative; use 0 for the 10s default", c.DialTimeout)
	}
	if _, err := c.TLS.build(); err != nil {
		return err
	}
	if _, err := c.SASL.mechanism(); err != nil {
		return err
	}
	return nil
}

func validateBroker(b string) error {
	host, port, err := net.SplitHostPort(b)
	if err != nil {
		// A bare host is fine: kgo adds the default port 9092. Check it by
		// adding that port rather than by inspecting the error text.
		if h, _, err2 := net.SplitHostPort(b + ":9092"); err2 == nil && h != "" && !strings.ContainsAny(h, " /") {
			return nil
		}
		return invalid("broker %q is not host:port: %v", b, err)
	}
	if host == "" {
		return invalid("broker %q has no host; write host:port", b)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return invalid("broker %q has port %q; use 1-65535", b, port)
	}
	return nil
}

// build returns the *tls.Config to use, or nil when TLS is disabled.
func (t TLSConfig) build() (*tls.Config, error) {
	files := t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify
	if !t.Enabled {
		if files {
			return nil, invalid("TLS settings are given but TLS.Enabled is false; set BROKERBENCH_KAFKA_TLS=true")
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, documented as tests only
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, invalid("TLS.CAFile: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, invalid("TLS.CAFile %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, invalid("TLS.CertFile and TLS.KeyFile must be set together for mutual TLS")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, invalid("TLS client certificate %s / key %s: %v", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// mechanism returns the SASL mechanism to use, or nil when SASL is off.
func (s SASLConfig) mechanism() (sasl.Mechanism, error) {
	if s.Mechanism == "" {
		if s.Username != "" || s.Password != "" {
			return nil, invalid("SASL credentials are given but SASL.Mechanism is empty; set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
		}
		return nil, nil
	}
	if s.Username == "" || s.Password == "" {
		return nil, invalid("SASL.Mechanism %s needs both SASL.Username and SASL.Password", s.Mechanism)
	}
	switch strings.ToUpper(s.Mechanism) {
	case SASLPlain:
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case SASLScramSHA256:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case SASLScramSHA512:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	default:
		return nil, invalid("SASL.Mechanism %q is not supported; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
}

// ConfigFromEnv starts from Default and applies the BROKERBENCH_KAFKA_*
// variables read through getenv (pass os.Getenv):
//
//	BROKERBENCH_KAFKA_NAME                     Name
//	BROKERBENCH_KAFKA_BROKERS                  comma-separated host:port list
//	BROKERBENCH_KAFKA_CLIENT_ID                ClientID
//	BROKERBENCH_KAFKA_REPLICATION_FACTOR       ReplicationFactor (-1 or >= 1)
//	BROKERBENCH_KAFKA_DIAL_TIMEOUT             Go duration, e.g. 5s
//	BROKERBENCH_KAFKA_TLS                      true/false
//	BROKERBENCH_KAFKA_TLS_CA_FILE              TLS.CAFile
//	BROKERBENCH_KAFKA_TLS_CERT_FILE            TLS.CertFile
//	BROKERBENCH_KAFKA_TLS_KEY_FILE             TLS.KeyFile
//	BROKERBENCH_KAFKA_TLS_SERVER_NAME          TLS.ServerName
//	BROKERBENCH_KAFKA_TLS_INSECURE_SKIP_VERIFY true/false
//	BROKERBENCH_KAFKA_SASL_MECHANISM           PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
//	BROKERBENCH_KAFKA_SASL_USERNAME            SASL.Username
//	BROKERBENCH_KAFKA_SASL_PASSWORD            SASL.Password
//
// Unset or empty variables keep the default. A malformed value returns an
// error naming the variable; the result is also validated.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Default()
	env := func(k string) string { return strings.TrimSpace(getenv("BROKERBENCH_KAFKA_" + k)) }
	setStr := map[string]*string{
		"NAME": &c.Name, "CLIENT_ID": &c.ClientID,
		"TLS_CA_FILE": &c.TLS.CAFile, "TLS_CERT_FILE": &c.TLS.CertFile, "TLS_KEY_FILE": &c.TLS.KeyFile,
		"TLS_SERVER_NAME": &c.TLS.ServerName,
		"SASL_MECHANISM":  &c.SASL.Mechanism, "SASL_USERNAME": &c.SASL.Username,
	}
	for k, p := range setStr {
		if v := env(k); v != "" {
			*p = v
		}
	}
	// The password is taken verbatim: surrounding spaces may be part of it.
	if v := getenv("BROKERBENCH_KAFKA_SASL_PASSWORD"); v != "" {
		c.SASL.Password = v
	}
	if v := env("BROKERS"); v != "" {
		c.Brokers = c.Brokers[:0:0]
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				c.Brokers = append(c.Brokers, b)
			}
		}
	}
	if v := env("REPLICATION_FACTOR"); v != "" {
		n, err := strconv.ParseInt(v, 10, 16)
		if err != nil {
			return c, invalid("BROKERBENCH_KAFKA_REPLICATION_FACTOR=%q is not an integer", v)
		}
		c.ReplicationFactor = int16(n)
	}
	if v := env("DIAL_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, invalid("BROKERBENCH_KAFKA_DIAL_TIMEOUT=%q is not a duration such as 5s", v)
		}
		c.DialTimeout = d
	}
	for k, p := range map[string]*bool{"TLS": &c.TLS.Enabled, "TLS_INSECURE_SKIP_VERIFY": &c.TLS.InsecureSkipVerify} {
		if v := env(k); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return c, invalid("BROKERBENCH_KAFKA_%s=%q is not true or false", k, v)
			}
			*p = b
		}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// clientOpts returns the kgo options every client of this config shares:
// brokers, SASL and the given dial function (which already applies TLS).
func (c Config) clientOpts(id string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(id),
		kgo.Dialer(dial),
	}
	mech, err := c.SASL.mechanism()
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}
