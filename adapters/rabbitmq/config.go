package rabbitmq

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"github.com/brokerbench/brokerbench/adapters"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
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
	// QueueType of the partition queues; default QueueQuorum (see the
	// package doc for why).
	QueueType QueueType
	// TLSCAFile is a PEM file of CAs that verify the server (amqps only);
	// empty uses the system roots.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a PEM client certificate and key for
	// mutual TLS; both or neither.
	TLSCertFile string
	TLSKeyFile  string
	// TLSServerName overrides the name checked against the server
	// certificate; empty uses the URL's host.
	TLSServerName string
	// TLSSkipVerify disables server certificate verification. For test rigs
	// only: it makes the connection open to interception.
	TLSSkipVerify bool
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

// Default returns the configuration for a local RabbitMQ with the guest
// account, quorum queues and persistent messages.
func Default() Config {
	return Config{
		Name:        "rabbitmq",
		URL:         "amqp://guest:guest@127.0.0.1:5672/",
		QueueType:   QueueQuorum,
		Heartbeat:   10 * time.Second,
		DialTimeout: 10 * time.Second,
	}
}

// Validate reports the first setting that is unusable and how to fix it.
// The error wraps ErrInvalidConfig and never contains credentials.
func (c Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: Name is empty; set it (BROKERBENCH_RABBITMQ_NAME) or use Default()", ErrInvalidConfig)
	}
	if _, err := c.uri(); err != nil {
		return err
	}
	switch c.QueueType {
	case QueueClassic, QueueQuorum, QueueStream:
	default:
		return fmt.Errorf("%w: QueueType %q is not one of classic, quorum, stream (BROKERBENCH_RABBITMQ_QUEUE_TYPE)",
			ErrInvalidConfig, c.QueueType)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("%w: TLSCertFile and TLSKeyFile must be set together (BROKERBENCH_RABBITMQ_TLS_CERT_FILE, BROKERBENCH_RABBITMQ_TLS_KEY_FILE)",
			ErrInvalidConfig)
	}
	if c.Heartbeat < 0 {
		return fmt.Errorf("%w: Heartbeat %v is negative; use 0 for the server's interval", ErrInvalidConfig, c.Heartbeat)
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("%w: DialTimeout %v must be positive (BROKERBENCH_RABBITMQ_DIAL_TIMEOUT, e.g. 10s)", ErrInvalidConfig, c.DialTimeout)
	}
	return nil
}

// uri parses URL and applies User/Password. Parse errors are rewritten so
// that they never echo the URL (which may hold a password).
func (c Config) uri() (amqp.URI, error) {
	if c.URL == "" {
		return amqp.URI{}, fmt.Errorf("%w: URL is empty; set BROKERBENCH_RABBITMQ_URL, e.g. amqp://127.0.0.1:5672/", ErrInvalidConfig)
	}
	u, err := amqp.ParseURI(c.URL)
	if err != nil {
		return amqp.URI{}, fmt.Errorf("%w: URL %s is not an AMQP URI (amqp://[user[:password]@]host[:port][/vhost], percent-encode reserved characters)",
			ErrInvalidConfig, redactURL(c.URL))
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
		return redactURL(c.URL)
	}
	eu := url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(u.Host, strconv.Itoa(u.Port)), Path: "/"}
	if u.Vhost != "/" {
		eu.Path = "/" + u.Vhost
	}
	switch {
	case u.Password != "":
		eu.User = url.UserPassword(u.Username, "xxxxx")
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

// tlsConfig builds the client TLS configuration from the TLS settings, or
// returns nil when the URL is not amqps.
func (c Config) tlsConfig(host string) (*tls.Config, error) {
	if !c.tlsEnabled() {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: c.TLSSkipVerify} //nolint:gosec // opt-in
	if c.TLSServerName != "" {
		tc.ServerName = c.TLSServerName
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: read TLS CA file: %w", ErrInvalidConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: TLS CA file %s holds no PEM certificate", ErrInvalidConfig, c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: load TLS client certificate %s: %w", ErrInvalidConfig, c.TLSCertFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// envPrefix prefixes every environment variable this package reads.
const envPrefix = "BROKERBENCH_RABBITMQ_"

// ConfigFromEnv returns Default() overridden by the BROKERBENCH_RABBITMQ_*
// variables that are set (non-empty): NAME, URL, USER, PASSWORD, QUEUE_TYPE,
// TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE, TLS_SERVER_NAME,
// TLS_SKIP_VERIFY (bool), HEARTBEAT and DIAL_TIMEOUT (Go durations) and
// TRANSIENT (bool). getenv is usually os.Getenv. The result is validated.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Default()
	strs := []struct {
		key string
		dst *string
	}{
		{"NAME", &c.Name}, {"URL", &c.URL}, {"USER", &c.User}, {"PASSWORD", &c.Password},
		{"TLS_CA_FILE", &c.TLSCAFile}, {"TLS_CERT_FILE", &c.TLSCertFile},
		{"TLS_KEY_FILE", &c.TLSKeyFile}, {"TLS_SERVER_NAME", &c.TLSServerName},
	}
	for _, s := range strs {
		if v := getenv(envPrefix + s.key); v != "" {
			*s.dst = v
		}
	}
	if v := getenv(envPrefix + "QUEUE_TYPE"); v != "" {
		c.QueueType = QueueType(strings.ToLower(v))
	}
	bools := []struct {
		key string
		dst *bool
	}{{"TLS_SKIP_VERIFY", &c.TLSSkipVerify}, {"TRANSIENT", &c.Transient}}
	for _, b := range bools {
		if v := getenv(envPrefix + b.key); v != "" {
			parsed, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("%w: %s%s=%q is not a boolean (use true or false)", ErrInvalidConfig, envPrefix, b.key, v)
			}
			*b.dst = parsed
		}
	}
	durs := []struct {
		key string
		dst *time.Duration
	}{{"HEARTBEAT", &c.Heartbeat}, {"DIAL_TIMEOUT", &c.DialTimeout}}
	for _, d := range durs {
		if v := getenv(envPrefix + d.key); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil {
				return Config{}, fmt.Errorf("%w: %s%s=%q is not a duration (e.g. 10s)", ErrInvalidConfig, envPrefix, d.key, v)
			}
			*d.dst = parsed
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// redactURL hides the password of a URL that may not even parse: anything
// between the first ':' of the userinfo and the '@' becomes "xxxxx".
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	rest, scheme := raw, ""
	if i := strings.Index(raw, "://"); i >= 0 {
		scheme, rest = raw[:i+3], raw[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	user := rest[:at]
	if i := strings.Index(user, ":"); i >= 0 {
		user = user[:i] + ":xxxxx"
	}
	return scheme + user + rest[at:]
}
