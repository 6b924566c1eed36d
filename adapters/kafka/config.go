package kafka

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/brokerbench/brokerbench/adapters"
)

// SASL mechanism names accepted in SASLConfig.Mechanism (case-insensitive).
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// EnvPrefix prefixes every setting [ConfigFromEnv] reads
// (docs/adapters/kafka.md lists them, generated from [EnvSettings]).
const EnvPrefix = "BROKERBENCH_KAFKA_"

// Config holds the connection settings of a Kafka (or Kafka-protocol, such
// as refbroker) cluster. Build it with Config{}.Default() or
// ConfigFromEnv, then adjust fields; New validates it. A Config is a plain value and safe to copy; its
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
	TLS adapters.TLS
	// SASL configures authentication; disabled by default.
	SASL SASLConfig
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

// Default returns c with every zero setting replaced by its default;
// Config{}.Default() is one broker at 127.0.0.1:9092, no TLS, no SASL,
// broker-default replication.
func (c Config) Default() Config {
	adapters.SetDefault(&c.Name, "kafka")
	if len(c.Brokers) == 0 {
		c.Brokers = []string{"127.0.0.1:9092"}
	}
	adapters.SetDefault(&c.ClientID, "brokerbench")
	adapters.SetDefault(&c.ReplicationFactor, -1)
	adapters.SetDefault(&c.DialTimeout, 10*time.Second)
	return c
}

// String describes c without credentials.
func (c Config) String() string {
	return fmt.Sprintf("kafka.Config{Name:%q Brokers:%v ClientID:%q ReplicationFactor:%d TLS:%t SASL:%q User:%q Password:%q}",
		c.Name, c.Brokers, c.ClientID, c.ReplicationFactor, c.TLS.On(), c.SASL.Mechanism, c.SASL.Username, adapters.RedactSecret(c.SASL.Password))
}

// GoString is String, so that %#v does not print the password either.
func (c Config) GoString() string { return c.String() }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", adapters.ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// Validate checks every setting, reads the TLS files, and returns an error
// wrapping adapters.ErrInvalidConfig that names the first bad setting and its fix.
func (c Config) Validate() error {
	if c.Name == "" {
		return invalid("Name is empty; set it (for example \"kafka\") or start from Config{}.Default()")
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
	if err := c.TLS.Validate(); err != nil {
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

// settings binds c's fields to their BROKERBENCH_KAFKA_* variables.
func (c *Config) settings() []adapters.Setting {
	return append([]adapters.Setting{
		adapters.StringSetting("NAME", "Name", &c.Name, "label in results; the CLI uses `refbroker` for the embedded broker"),
		adapters.ListSetting("BROKERS", "Brokers", &c.Brokers, "comma-separated host:port bootstrap list; a missing port means 9092"),
		adapters.StringSetting("CLIENT_ID", "ClientID", &c.ClientID, "prefix of every `client.id` (`-producer-<id>`, `-consumer-<id>`, `-admin`)"),
		adapters.IntSetting("REPLICATION_FACTOR", "ReplicationFactor", &c.ReplicationFactor, "`-1` = broker's `default.replication.factor` (KIP-464, Kafka 2.4+); kfake and refbroker accept -1 and 1"),
		adapters.DurationSetting("DIAL_TIMEOUT", "DialTimeout", &c.DialTimeout, "per TCP+TLS connection attempt"),
		adapters.StringSetting("SASL_MECHANISM", "SASL.Mechanism", &c.SASL.Mechanism, "`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`"),
		adapters.StringSetting("SASL_USERNAME", "SASL.Username", &c.SASL.Username, ""),
		adapters.SecretSetting("SASL_PASSWORD", "SASL.Password", &c.SASL.Password, "read verbatim and never printed (`Config.String` shows `xxxxx`)"),
	}, c.TLS.Settings()...)
}

// EnvSettings lists the variables [ConfigFromEnv] reads, bound to a
// default Config (for the docs).
func EnvSettings() []adapters.Setting { return adapters.DefaultSettings((*Config).settings) }

// ConfigFromEnv returns [Config.Default] overridden by the
// BROKERBENCH_KAFKA_* variables that are set ([EnvSettings]), read through
// getenv (usually os.Getenv), and validated. A malformed value is an error
// naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	return adapters.ConfigFromEnv(EnvPrefix, getenv, (*Config).settings)
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

// Default returns Config{}.Default().
//
// Deprecated: use Config{}.Default(), the convention of every adapter;
// this remains so that code written against the old constructor builds.
func Default() Config { return Config{}.Default() }
