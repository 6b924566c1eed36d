package nats

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/brokerbench/brokerbench/adapters"
)

// EnvPrefix prefixes every setting [ConfigFromEnv] reads
// (docs/adapters/nats.md lists them, generated from [EnvSettings]).
const EnvPrefix = "BROKERBENCH_NATS_"

// Config holds the connection and stream settings of a NATS JetStream
// adapter. Build it with [Config.Default] (or [ConfigFromEnv]) and change
// fields; [New] validates it. Password, Token and URL credentials never
// appear in String output, errors or Info.
type Config struct {
	// Name is the system name reported by Name() and in results. Default
	// "nats".
	Name string
	// Dialer, if set, opens every connection, per role (see
	// adapters.RoleDialer); nats.go layers TLS on top. Default plain TCP.
	Dialer adapters.RoleDialer
	// URL is one or more comma-separated server URLs. Credentials may be
	// embedded (nats://user:pass@host:4222) but User/Password are preferred.
	// Default "nats://127.0.0.1:4222".
	URL string
	// User and Password authenticate with a user name and password.
	User, Password string
	// Token authenticates with a token.
	Token string
	// CredsFile is a JWT/NKey credentials file (decentralised auth).
	CredsFile string
	// TLS configures encryption; off by default (a tls:// URL also asks
	// nats.go for TLS, with the system roots).
	TLS adapters.TLS
	// Storage is the stream storage, "file" (default, durable) or "memory".
	Storage string
	// Replicas is the stream replica count, 1 (default) to 5.
	Replicas int
	// Dedup sets a Nats-Msg-Id on the messages of idempotent producers,
	// so the stream drops re-publishes within its duplicate window. Off by
	// default: the adapter never re-publishes (client.go). A workload's
	// explicit idempotence (ProducerConfig.IdempotenceRequested) turns it
	// on without this.
	Dedup bool
	// MonitorURL is the server's HTTP monitoring endpoint, read by
	// Durability for the fsync settings (/varz): "auto" (default) tries
	// port 8222 on the first server's host, "off" never reads it.
	MonitorURL string
	// ConnectTimeout bounds each connection attempt. Default 5s.
	ConnectTimeout time.Duration
	// APITimeout bounds JetStream API requests whose context has no
	// deadline. Default 5s.
	APITimeout time.Duration
}

// Default returns c with every zero setting replaced by its default;
// Config{}.Default() is the local NATS server on 127.0.0.1:4222 without
// TLS or credentials, file storage, one replica.
func (c Config) Default() Config {
	adapters.SetDefault(&c.Name, "nats")
	adapters.SetDefault(&c.URL, "nats://127.0.0.1:4222")
	adapters.SetDefault(&c.Storage, "file")
	adapters.SetDefault(&c.Replicas, 1)
	adapters.SetDefault(&c.MonitorURL, "auto")
	adapters.SetDefault(&c.ConnectTimeout, 5*time.Second)
	adapters.SetDefault(&c.APITimeout, 5*time.Second)
	return c
}

// Validate reports the first invalid setting, naming it and how to fix it.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("%w: Name is empty; set it (default %q)", adapters.ErrInvalidConfig, "nats")
	case strings.TrimSpace(c.URL) == "":
		return fmt.Errorf("%w: URL is empty; set %s (e.g. nats://127.0.0.1:4222)", adapters.ErrInvalidConfig, EnvPrefix+"URL")
	case c.Storage != "file" && c.Storage != "memory":
		return fmt.Errorf("%w: Storage %q must be file or memory (%sSTORAGE)", adapters.ErrInvalidConfig, c.Storage, EnvPrefix)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("%w: Replicas %d must be 1..5 (%sREPLICAS)", adapters.ErrInvalidConfig, c.Replicas, EnvPrefix)
	case c.ConnectTimeout <= 0:
		return fmt.Errorf("%w: ConnectTimeout %v must be positive (e.g. 5s)", adapters.ErrInvalidConfig, c.ConnectTimeout)
	case c.APITimeout <= 0:
		return fmt.Errorf("%w: APITimeout %v must be positive (e.g. 5s)", adapters.ErrInvalidConfig, c.APITimeout)
	case c.Token != "" && (c.User != "" || c.CredsFile != ""):
		return fmt.Errorf("%w: Token cannot be combined with User or CredsFile; pick one authentication method", adapters.ErrInvalidConfig)
	}
	for i, raw := range strings.Split(c.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Host == "" {
			return fmt.Errorf("%w: URL #%d %q is not a server URL like nats://host:4222", adapters.ErrInvalidConfig, i+1, adapters.RedactURL(raw))
		}
	}
	if c.CredsFile != "" {
		if _, err := os.Stat(c.CredsFile); err != nil {
			return fmt.Errorf("%w: CredsFile: %v", adapters.ErrInvalidConfig, err)
		}
	}
	return c.TLS.Validate()
}

// options returns the nats.go connection options for a connection named
// name. c must be valid.
func (c Config) options(name string) []natsgo.Option {
	opts := []natsgo.Option{natsgo.Name(name), natsgo.Timeout(c.ConnectTimeout)}
	if c.User != "" {
		opts = append(opts, natsgo.UserInfo(c.User, c.Password))
	}
	if c.Token != "" {
		opts = append(opts, natsgo.Token(c.Token))
	}
	if c.CredsFile != "" {
		opts = append(opts, natsgo.UserCredentials(c.CredsFile))
	}
	if tc, _ := c.TLS.Build(); tc != nil { // Validate has built it once already
		opts = append(opts, natsgo.Secure(tc))
	}
	return opts
}

// endpoint is the URL list with credentials redacted.
func (c Config) endpoint() string {
	parts := strings.Split(c.URL, ",")
	for i, p := range parts {
		parts[i] = adapters.RedactURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// String describes the configuration with credentials redacted, so that a
// Config printed with %v or %+v never leaks them.
func (c Config) String() string {
	return fmt.Sprintf("nats.Config{Name:%s URL:%s User:%s Password:%s Token:%s CredsFile:%s TLS.CAFile:%s TLS.InsecureSkipVerify:%t Storage:%s Replicas:%d Dedup:%t MonitorURL:%s}",
		c.Name, c.endpoint(), c.User, adapters.RedactSecret(c.Password), adapters.RedactSecret(c.Token), c.CredsFile,
		c.TLS.CAFile, c.TLS.InsecureSkipVerify, c.Storage, c.Replicas, c.Dedup, adapters.RedactURL(c.MonitorURL))
}

// settings binds c's fields to their BROKERBENCH_NATS_* variables.
func (c *Config) settings() []adapters.Setting {
	return append([]adapters.Setting{
		adapters.StringSetting("NAME", "Name", &c.Name, "label in results"),
		adapters.StringSetting("URL", "URL", &c.URL, "comma-separated server list; credentials in it are redacted everywhere"),
		adapters.StringSetting("USER", "User", &c.User, "user name"),
		adapters.SecretSetting("PASSWORD", "Password", &c.Password, "never printed"),
		adapters.SecretSetting("TOKEN", "Token", &c.Token, "token authentication; not with USER or CREDS_FILE"),
		adapters.StringSetting("CREDS_FILE", "CredsFile", &c.CredsFile, "JWT + NKey credentials"),
		adapters.StringSetting("STORAGE", "Storage", &c.Storage, "`file` or `memory`"),
		adapters.IntSetting("REPLICAS", "Replicas", &c.Replicas, "1 to 5"),
		adapters.BoolSetting("DEDUP", "Dedup", &c.Dedup, "Nats-Msg-Id on idempotent producers' messages"),
		adapters.StringSetting("MONITOR_URL", "MonitorURL", &c.MonitorURL, "`auto` (port 8222 of the first server), `off`, or an http(s) URL; read for the fsync settings"),
		adapters.DurationSetting("CONNECT_TIMEOUT", "ConnectTimeout", &c.ConnectTimeout, ""),
		adapters.DurationSetting("API_TIMEOUT", "APITimeout", &c.APITimeout, "JetStream API requests without a deadline"),
	}, c.TLS.Settings()...)
}

// EnvSettings lists the variables [ConfigFromEnv] reads, bound to a
// default Config (for the docs).
func EnvSettings() []adapters.Setting { return adapters.DefaultSettings((*Config).settings) }

// ConfigFromEnv returns [Config.Default] overridden by the
// BROKERBENCH_NATS_* variables that are set ([EnvSettings]), read through
// getenv (usually os.Getenv), and validated. A malformed value is an error
// naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	return adapters.ConfigFromEnv(EnvPrefix, getenv, (*Config).settings)
}
