package nats

import (
	"crypto/tls"
	"fmt"
	"github.com/brokerbench/brokerbench/adapters"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Environment variables read by [ConfigFromEnv]. Unset or empty variables
// keep the [Config.Default] value.
const (
	EnvName           = "BROKERBENCH_NATS_NAME"            // Config.Name
	EnvURL            = "BROKERBENCH_NATS_URL"             // Config.URL, comma-separated server URLs
	EnvUser           = "BROKERBENCH_NATS_USER"            // Config.User
	EnvPassword       = "BROKERBENCH_NATS_PASSWORD"        // Config.Password
	EnvToken          = "BROKERBENCH_NATS_TOKEN"           // Config.Token
	EnvCredsFile      = "BROKERBENCH_NATS_CREDS_FILE"      // Config.CredsFile
	EnvTLSCAFile      = "BROKERBENCH_NATS_TLS_CA_FILE"     // Config.TLSCAFile
	EnvTLSCertFile    = "BROKERBENCH_NATS_TLS_CERT_FILE"   // Config.TLSCertFile
	EnvTLSKeyFile     = "BROKERBENCH_NATS_TLS_KEY_FILE"    // Config.TLSKeyFile
	EnvTLSSkipVerify  = "BROKERBENCH_NATS_TLS_SKIP_VERIFY" // Config.TLSSkipVerify, a Go bool
	EnvStorage        = "BROKERBENCH_NATS_STORAGE"         // Config.Storage: file or memory
	EnvReplicas       = "BROKERBENCH_NATS_REPLICAS"        // Config.Replicas
	EnvConnectTimeout = "BROKERBENCH_NATS_CONNECT_TIMEOUT" // Config.ConnectTimeout, a Go duration
	EnvAPITimeout     = "BROKERBENCH_NATS_API_TIMEOUT"     // Config.APITimeout, a Go duration
)

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
	// TLSCAFile is a PEM file of CA certificates to trust. Setting it, a
	// client certificate or TLSSkipVerify enables TLS.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a client certificate and key (mutual
	// TLS); set both or neither.
	TLSCertFile, TLSKeyFile string
	// TLSSkipVerify disables server certificate verification (testing only).
	TLSSkipVerify bool
	// Storage is the stream storage, "file" (default, durable) or "memory".
	Storage string
	// Replicas is the stream replica count, 1 (default) to 5.
	Replicas int
	// ConnectTimeout bounds each connection attempt. Default 5s.
	ConnectTimeout time.Duration
	// APITimeout bounds JetStream API requests whose context has no
	// deadline. Default 5s.
	APITimeout time.Duration
}

// Default returns the default configuration: the local NATS server on
// 127.0.0.1:4222 without TLS or credentials, file storage, one replica.
func (Config) Default() Config {
	return Config{
		Name:           "nats",
		URL:            "nats://127.0.0.1:4222",
		Storage:        "file",
		Replicas:       1,
		ConnectTimeout: 5 * time.Second,
		APITimeout:     5 * time.Second,
	}
}

// Validate reports the first invalid setting, naming it and how to fix it.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("%w: Name is empty; set it (default %q)", ErrInvalidConfig, "nats")
	case strings.TrimSpace(c.URL) == "":
		return fmt.Errorf("%w: URL is empty; set %s (e.g. nats://127.0.0.1:4222)", ErrInvalidConfig, EnvURL)
	case c.Storage != "file" && c.Storage != "memory":
		return fmt.Errorf("%w: Storage %q must be file or memory (%s)", ErrInvalidConfig, c.Storage, EnvStorage)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("%w: Replicas %d must be 1..5 (%s)", ErrInvalidConfig, c.Replicas, EnvReplicas)
	case c.ConnectTimeout <= 0:
		return fmt.Errorf("%w: ConnectTimeout %v must be positive (e.g. 5s)", ErrInvalidConfig, c.ConnectTimeout)
	case c.APITimeout <= 0:
		return fmt.Errorf("%w: APITimeout %v must be positive (e.g. 5s)", ErrInvalidConfig, c.APITimeout)
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return fmt.Errorf("%w: set both TLSCertFile and TLSKeyFile or neither", ErrInvalidConfig)
	case c.Token != "" && (c.User != "" || c.CredsFile != ""):
		return fmt.Errorf("%w: Token cannot be combined with User or CredsFile; pick one authentication method", ErrInvalidConfig)
	}
	for i, raw := range strings.Split(c.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Host == "" {
			return fmt.Errorf("%w: URL #%d %q is not a server URL like nats://host:4222", ErrInvalidConfig, i+1, redactURL(raw))
		}
	}
	for _, f := range []struct{ name, path string }{
		{"CredsFile", c.CredsFile}, {"TLSCAFile", c.TLSCAFile}, {"TLSCertFile", c.TLSCertFile}, {"TLSKeyFile", c.TLSKeyFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidConfig, f.name, err)
		}
	}
	return nil
}

func (c Config) useTLS() bool {
	return c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSSkipVerify
}

// options returns the nats.go connection options for a connection named
// name.
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
	if c.useTLS() {
		// Secure first: RootCAs and ClientCert amend the config it sets.
		opts = append(opts, natsgo.Secure(&tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: c.TLSSkipVerify, //nolint:gosec // opt-in, documented as testing only
		}))
	}
	if c.TLSCAFile != "" {
		opts = append(opts, natsgo.RootCAs(c.TLSCAFile))
	}
	if c.TLSCertFile != "" {
		opts = append(opts, natsgo.ClientCert(c.TLSCertFile, c.TLSKeyFile))
	}
	return opts
}

// endpoint is the URL list with credentials redacted.
func (c Config) endpoint() string {
	parts := strings.Split(c.URL, ",")
	for i, p := range parts {
		parts[i] = redactURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// redactURL replaces a URL's password (or lone token user) with "xxxxx".
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable: keep only what follows the last '@', if any, so
		// credentials cannot leak through an error message.
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "xxxxx@" + raw[i+1:]
		}
		return raw
	}
	if u.User == nil {
		return raw
	}
	if _, hasPw := u.User.Password(); hasPw {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else {
		u.User = url.User("xxxxx") // nats://token@host: the user is the token
	}
	return u.String()
}

// String describes the configuration with credentials redacted, so that a
// Config printed with %v or %+v never leaks them.
func (c Config) String() string {
	red := func(s string) string {
		if s == "" {
			return ""
		}
		return "xxxxx"
	}
	return fmt.Sprintf("nats.Config{Name:%s URL:%s User:%s Password:%s Token:%s CredsFile:%s TLSCAFile:%s TLSSkipVerify:%t Storage:%s Replicas:%d}",
		c.Name, c.endpoint(), c.User, red(c.Password), red(c.Token), c.CredsFile, c.TLSCAFile, c.TLSSkipVerify, c.Storage, c.Replicas)
}

// ConfigFromEnv returns [Config.Default] overridden by the BROKERBENCH_NATS_*
// variables (see the Env constants) read through getenv, usually os.Getenv.
// It does not validate; [New] does.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{}.Default()
	for _, s := range []struct {
		env string
		dst *string
	}{
		{EnvName, &c.Name}, {EnvURL, &c.URL}, {EnvUser, &c.User}, {EnvPassword, &c.Password},
		{EnvToken, &c.Token}, {EnvCredsFile, &c.CredsFile}, {EnvTLSCAFile, &c.TLSCAFile},
		{EnvTLSCertFile, &c.TLSCertFile}, {EnvTLSKeyFile, &c.TLSKeyFile}, {EnvStorage, &c.Storage},
	} {
		if v := getenv(s.env); v != "" {
			*s.dst = v
		}
	}
	var err error
	if v := getenv(EnvTLSSkipVerify); v != "" {
		if c.TLSSkipVerify, err = strconv.ParseBool(v); err != nil {
			return Config{}, fmt.Errorf("%w: %s=%q is not a bool (use true or false)", ErrInvalidConfig, EnvTLSSkipVerify, v)
		}
	}
	if v := getenv(EnvReplicas); v != "" {
		if c.Replicas, err = strconv.Atoi(v); err != nil {
			return Config{}, fmt.Errorf("%w: %s=%q is not an integer", ErrInvalidConfig, EnvReplicas, v)
		}
	}
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{{EnvConnectTimeout, &c.ConnectTimeout}, {EnvAPITimeout, &c.APITimeout}} {
		if v := getenv(d.env); v != "" {
			if *d.dst, err = time.ParseDuration(v); err != nil {
				return Config{}, fmt.Errorf("%w: %s=%q is not a duration (e.g. 5s)", ErrInvalidConfig, d.env, v)
			}
		}
	}
	return c, nil
}
