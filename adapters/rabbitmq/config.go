package rabbitmq

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters"
)

// QueueType is the RabbitMQ queue type used for partition queues.
type QueueType string

const (
	// QueueClassic is RabbitMQ's original single-node queue type.
	QueueClassic QueueType = "classic"
	// QueueQuorum is the replicated, Raft-based durable queue type and the
	// production default since RabbitMQ 4 (classic mirroring was removed).
	QueueQuorum QueueType = "quorum"
	// QueueStream is an append-only log: consumers read non-destructively
	// from an offset, so one stream per partition serves every subscription.
	QueueStream QueueType = "stream"
)

// Config holds the connection settings of the RabbitMQ adapter. Build it with
// Default (or ConfigFromEnv) and change fields; New calls Validate.
type Config struct {
	// Name labels the system in results; default "rabbitmq".
	Name string
	// Dialer, if set, opens every connection, per role (see
	// adapters.RoleDialer); TLS is layered on top. Default plain TCP.
	Dialer adapters.RoleDialer
	// URL is the AMQP URI, amqp:// or amqps://, with optional credentials and
	// vhost; default "amqp://guest:guest@127.0.0.1:5672/". It is never
	// logged or reported unredacted.
	URL string
	// User and Password, when set, replace the credentials in URL. Keeping
	// them separate lets the URL be shown without secrets.
	User     string
	Password string
	// QueueType of the partition queues. Default "": chosen per topic from
	// the workload's durability level (classic for memory and async-disk,
	// quorum otherwise; see durability.go). Set, it wins over the level.
	QueueType QueueType
	// ManagementURL is the RabbitMQ management HTTP API, read (with the
	// AMQP credentials) only for the durability read-back's quorum queue
	// membership, which AMQP does not expose. Default "": port 15672 (15671
	// for amqps) on the AMQP host; "off" never asks. Unreachable, the
	// read-back claims one node's level and says why.
	ManagementURL string
	// TLS configures encryption, which an amqps:// URL turns on (with the
	// system roots); TLS settings with an amqp:// URL are an error.
	TLS adapters.TLS
	// Heartbeat is the AMQP heartbeat interval; default 10s.
	Heartbeat time.Duration
	// DialTimeout bounds the TCP connect plus TLS and AMQP handshakes;
	// default 10s.
	DialTimeout time.Duration
	// Transient publishes with delivery mode 1 (not persisted by classic
	// queues). Default false: messages are persistent. Quorum queues and
	// streams always persist.
	Transient bool

	_ struct{} // forces keyed literals so fields can be added
}

// EnvPrefix prefixes every setting [ConfigFromEnv] reads
// (docs/adapters/rabbitmq.md lists them, generated from [EnvSettings]).
const EnvPrefix = "BROKERBENCH_RABBITMQ_"

// Default returns c with every zero setting replaced by its default;
// Config{}.Default() is a local RabbitMQ with the guest account, quorum
// queues chosen by the durability level and persistent messages.
func (c Config) Default() Config {
	adapters.SetDefault(&c.Name, "rabbitmq")
	adapters.SetDefault(&c.URL, "amqp://guest:guest@127.0.0.1:5672/")
	adapters.SetDefault(&c.Heartbeat, 10*time.Second)
	adapters.SetDefault(&c.DialTimeout, 10*time.Second)
	return c
}

// Validate reports the first setting that is unusable and how to fix it.
// The error wraps adapters.ErrInvalidConfig and never contains credentials.
func (c Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: Name is empty; set it (BROKERBENCH_RABBITMQ_NAME) or start from Config{}.Default()", adapters.ErrInvalidConfig)
	}
	u, err := c.uri()
	if err != nil {
		return err
	}
	if c.TLS.On() && u.Scheme != "amqps" {
		return fmt.Errorf("%w: TLS settings are given but URL is %s://; use amqps:// (port 5671) for TLS", adapters.ErrInvalidConfig, u.Scheme)
	}
	switch c.QueueType {
	case "", QueueClassic, QueueQuorum, QueueStream:
	default:
		return fmt.Errorf("%w: QueueType %q is not one of classic, quorum, stream, or empty for the durability level's (BROKERBENCH_RABBITMQ_QUEUE_TYPE)",
			adapters.ErrInvalidConfig, c.QueueType)
	}
	if c.Heartbeat < 0 {
		return fmt.Errorf("%w: Heartbeat %v is negative; use a positive interval such as 10s", adapters.ErrInvalidConfig, c.Heartbeat)
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("%w: DialTimeout %v must be positive (BROKERBENCH_RABBITMQ_DIAL_TIMEOUT, e.g. 10s)", adapters.ErrInvalidConfig, c.DialTimeout)
	}
	return c.TLS.Validate()
}

// uri parses URL and applies User/Password. Parse errors are rewritten so
// that they never echo the URL (which may hold a password).
func (c Config) uri() (amqp.URI, error) {
	if c.URL == "" {
		return amqp.URI{}, fmt.Errorf("%w: URL is empty; set BROKERBENCH_RABBITMQ_URL, e.g. amqp://127.0.0.1:5672/", adapters.ErrInvalidConfig)
	}
	u, err := amqp.ParseURI(c.URL)
	if err != nil {
		return amqp.URI{}, fmt.Errorf("%w: URL %s is not an AMQP URI (amqp://[user[:password]@]host[:port][/vhost], percent-encode reserved characters)",
			adapters.ErrInvalidConfig, adapters.RedactURL(c.URL))
	}
	if c.User != "" {
		u.Username = c.User
	}
	if c.Password != "" {
		u.Password = c.Password
	}
	return u, nil
}

// Endpoint returns the URL in canonical form (explicit port) with User
// applied and any password replaced by "xxxxx", suitable for logs, errors
// and results.
func (c Config) Endpoint() string {
	u, err := c.uri()
	if err != nil {
		return adapters.RedactURL(c.URL)
	}
	eu := url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(u.Host, strconv.Itoa(u.Port)), Path: "/"}
	if u.Vhost != "/" {
		eu.Path = "/" + u.Vhost
	}
	switch {
	case u.Password != "":
		eu.User = url.UserPassword(u.Username, adapters.Redacted)
	case u.Username != "":
		eu.User = url.User(u.Username)
	}
	return eu.String()
}

// String returns a redacted summary of c; it implements fmt.Stringer so that
// printing a Config with %v never reveals the password.
func (c Config) String() string {
	return fmt.Sprintf("rabbitmq.Config{Name:%s URL:%s QueueType:%s TLS:%t}", c.Name, c.Endpoint(), c.QueueType, c.tlsEnabled())
}

func (c Config) tlsEnabled() bool {
	u, err := c.uri()
	return err == nil && u.Scheme == "amqps"
}

// tlsConfig builds the client TLS configuration, verifying host unless
// TLS.ServerName says otherwise, or returns nil when the URL is not amqps.
func (c Config) tlsConfig(host string) (*tls.Config, error) {
	if !c.tlsEnabled() {
		return nil, nil
	}
	t := c.TLS
	t.Enabled = true // amqps:// with no other setting: the system roots
	tc, err := t.Build()
	if err != nil {
		return nil, err
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	return tc, nil
}

// settings binds c's fields to their BROKERBENCH_RABBITMQ_* variables.
func (c *Config) settings() []adapters.Setting {
	return append([]adapters.Setting{
		adapters.StringSetting("NAME", "Name", &c.Name, "label in results"),
		adapters.StringSetting("URL", "URL", &c.URL, "`amqps://` for TLS; the password in it is redacted everywhere"),
		adapters.StringSetting("USER", "User", &c.User, "replaces the URL's user"),
		adapters.SecretSetting("PASSWORD", "Password", &c.Password, "replaces the URL's password; never printed"),
		adapters.FuncSetting("QUEUE_TYPE", "QueueType", "`classic`, `quorum` or `stream`; unset, chosen by the workload's `durability:`",
			func(v string) error { c.QueueType = QueueType(strings.ToLower(v)); return nil },
			func() string { return string(c.QueueType) }),
		adapters.StringSetting("MANAGEMENT_URL", "ManagementURL", &c.ManagementURL, "management HTTP API for the durability read-back (quorum queue members); `off` never asks"),
		adapters.DurationSetting("HEARTBEAT", "Heartbeat", &c.Heartbeat, "AMQP heartbeat"),
		adapters.DurationSetting("DIAL_TIMEOUT", "DialTimeout", &c.DialTimeout, "TCP connect plus TLS and AMQP handshakes"),
		adapters.BoolSetting("TRANSIENT", "Transient", &c.Transient, "delivery mode 1 (classic queues do not persist)"),
	}, c.TLS.Settings()...)
}

// EnvSettings lists the variables [ConfigFromEnv] reads, bound to a
// default Config (for the docs).
func EnvSettings() []adapters.Setting { return adapters.DefaultSettings((*Config).settings) }

// ConfigFromEnv returns [Config.Default] overridden by the
// BROKERBENCH_RABBITMQ_* variables that are set ([EnvSettings]), read through
// getenv (usually os.Getenv), and validated. A malformed value is an error
// naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	return adapters.ConfigFromEnv(EnvPrefix, getenv, (*Config).settings)
}

// Default returns Config{}.Default().
//
// Deprecated: use Config{}.Default(), the convention of every adapter;
// this remains so that code written against the old constructor builds.
func Default() Config { return Config{}.Default() }
