package redis

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"github.com/brokerbench/brokerbench/adapters"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables read by [ConfigFromEnv]. Unset or empty variables
// keep the [Config.Default] value.
const (
	EnvName          = "BROKERBENCH_REDIS_NAME"            // Config.Name
	EnvAddr          = "BROKERBENCH_REDIS_ADDR"            // Config.Addrs, comma-separated
	EnvCluster       = "BROKERBENCH_REDIS_CLUSTER"         // Config.Cluster, a Go bool
	EnvUsername      = "BROKERBENCH_REDIS_USERNAME"        // Config.Username (ACL user)
	EnvPassword      = "BROKERBENCH_REDIS_PASSWORD"        // Config.Password
	EnvDB            = "BROKERBENCH_REDIS_DB"              // Config.DB
	EnvTLS           = "BROKERBENCH_REDIS_TLS"             // Config.TLS, a Go bool
	EnvTLSCAFile     = "BROKERBENCH_REDIS_TLS_CA_FILE"     // Config.TLSCAFile
	EnvTLSSkipVerify = "BROKERBENCH_REDIS_TLS_SKIP_VERIFY" // Config.TLSSkipVerify, a Go bool
	EnvTLSServerName = "BROKERBENCH_REDIS_TLS_SERVER_NAME" // Config.TLSServerName
	EnvDialTimeout   = "BROKERBENCH_REDIS_DIAL_TIMEOUT"    // Config.DialTimeout, a Go duration
	EnvBlock         = "BROKERBENCH_REDIS_BLOCK"           // Config.Block, a Go duration
	EnvEntryBytes    = "BROKERBENCH_REDIS_ENTRY_BYTES"     // Config.EntryBytes
)

// Config holds the connection settings of a Redis adapter. Build it with
// [Config.Default] (or [ConfigFromEnv]) and change fields; [New] validates it.
// Password never appears in String output, errors or Info.
type Config struct {
	// Name is the system name reported by Name() and in results. Default
	// "redis".
	Name string
	// Dialer, if set, opens every connection, per role (see
	// adapters.RoleDialer); TLS is layered on top. Default plain TCP.
	Dialer adapters.RoleDialer
	// Addrs are host:port addresses. One address means a single server
	// unless Cluster is set; several mean a Redis Cluster seed list.
	// Default ["127.0.0.1:6379"].
	Addrs []string
	// Cluster forces the cluster client even with one seed address (for
	// example a cluster configuration endpoint). Default false.
	Cluster bool
	// Username is the ACL user; empty means "default".
	Username string
	// Password is the ACL or requirepass password; empty means none.
	Password string
	// DB is the database number (single server only; Cluster has only 0).
	// Default 0.
	DB int
	// TLS enables TLS. Default false. TLSCAFile and TLSSkipVerify imply it.
	TLS bool
	// TLSCAFile is a PEM file of CA certificates to trust instead of the
	// system pool. Empty means the system pool.
	TLSCAFile string
	// TLSSkipVerify disables server certificate verification (testing only).
	TLSSkipVerify bool
	// TLSServerName overrides the server name checked in the certificate.
	TLSServerName string
	// DialTimeout bounds each connection attempt. Default 5s.
	DialTimeout time.Duration
	// Block is how long one XREADGROUP waits for new entries (BLOCK). It
	// does not add latency (the read returns as soon as an entry arrives);
	// it bounds how long Close waits for the read loop. Default 500ms,
	// minimum 1ms (Redis treats BLOCK 0 as "forever").
	Block time.Duration
	// EntryBytes is the assumed size of one stream entry in bytes, used to
	// turn TopicSpec.RetentionBytes into an approximate MAXLEN (entries =
	// RetentionBytes / EntryBytes, at least 1). Default 1024. Set it to the
	// workload's message size plus ~60 bytes of per-entry overhead for a
	// closer match.
	EntryBytes int64
}

// Default returns the default configuration: a single Redis on
// 127.0.0.1:6379 without TLS or credentials.
func (Config) Default() Config {
	return Config{
		Name:        "redis",
		Addrs:       []string{"127.0.0.1:6379"},
		DialTimeout: 5 * time.Second,
		Block:       500 * time.Millisecond,
		EntryBytes:  1024,
	}
}

// Validate reports the first invalid setting, naming it and how to fix it.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("%w: Name is empty; set it (default %q)", ErrInvalidConfig, "redis")
	case len(c.Addrs) == 0:
		return fmt.Errorf("%w: Addrs is empty; set %s to host:port", ErrInvalidConfig, EnvAddr)
	case c.DB < 0:
		return fmt.Errorf("%w: DB %d is negative; use 0 or more", ErrInvalidConfig, c.DB)
	case c.DB != 0 && c.isCluster():
		return fmt.Errorf("%w: DB %d with Redis Cluster; cluster supports only DB 0", ErrInvalidConfig, c.DB)
	case c.DialTimeout <= 0:
		return fmt.Errorf("%w: DialTimeout %v must be positive (e.g. 5s)", ErrInvalidConfig, c.DialTimeout)
	case c.Block < time.Millisecond:
		return fmt.Errorf("%w: Block %v must be at least 1ms (e.g. 500ms)", ErrInvalidConfig, c.Block)
	case c.EntryBytes <= 0:
		return fmt.Errorf("%w: EntryBytes %d must be positive (e.g. 1024)", ErrInvalidConfig, c.EntryBytes)
	}
	for i, a := range c.Addrs {
		host, port, ok := strings.Cut(a, ":")
		if !ok || host == "" || port == "" {
			return fmt.Errorf("%w: Addrs[%d] %q is not host:port (set %s like 127.0.0.1:6379)", ErrInvalidConfig, i, a, EnvAddr)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("%w: Addrs[%d] %q has an invalid port", ErrInvalidConfig, i, a)
		}
	}
	if c.TLSCAFile != "" {
		if _, err := os.Stat(c.TLSCAFile); err != nil {
			return fmt.Errorf("%w: TLSCAFile: %v", ErrInvalidConfig, err)
		}
	}
	return nil
}

func (c Config) isCluster() bool { return c.Cluster || len(c.Addrs) > 1 }

func (c Config) useTLS() bool { return c.TLS || c.TLSCAFile != "" || c.TLSSkipVerify }

// tlsConfig builds the client TLS configuration, or nil without TLS.
func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.useTLS() {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.TLSServerName,
		InsecureSkipVerify: c.TLSSkipVerify, //nolint:gosec // opt-in, documented as testing only
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("read TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: TLSCAFile %s holds no PEM certificate", ErrInvalidConfig, c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// endpoint describes where the system is reached, without credentials.
func (c Config) endpoint() string {
	scheme := "redis"
	if c.useTLS() {
		scheme = "rediss"
	}
	ep := scheme + "://" + strings.Join(c.Addrs, ",")
	if c.DB != 0 {
		ep += "/" + strconv.Itoa(c.DB)
	}
	if c.isCluster() {
		ep += " (cluster)"
	}
	return ep
}

// String describes the configuration with the password redacted, so that a
// Config printed with %v or %+v never leaks it.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = "xxxxx"
	}
	return fmt.Sprintf("redis.Config{Name:%s Endpoint:%s Username:%s Password:%s TLSCAFile:%s TLSSkipVerify:%t Block:%v EntryBytes:%d}",
		c.Name, c.endpoint(), c.Username, pw, c.TLSCAFile, c.TLSSkipVerify, c.Block, c.EntryBytes)
}

// ConfigFromEnv returns [Config.Default] overridden by the BROKERBENCH_REDIS_*
// variables (see the Env constants) read through getenv, usually os.Getenv.
// It does not validate; [New] does.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{}.Default()
	if v := getenv(EnvName); v != "" {
		c.Name = v
	}
	if v := getenv(EnvAddr); v != "" {
		c.Addrs = nil
		for a := range strings.SplitSeq(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.Addrs = append(c.Addrs, a)
			}
		}
	}
	c.Username = getenv(EnvUsername)
	c.Password = getenv(EnvPassword)
	c.TLSCAFile = getenv(EnvTLSCAFile)
	c.TLSServerName = getenv(EnvTLSServerName)
	var err error
	for _, b := range []struct {
		env string
		dst *bool
	}{{EnvCluster, &c.Cluster}, {EnvTLS, &c.TLS}, {EnvTLSSkipVerify, &c.TLSSkipVerify}} {
		if v := getenv(b.env); v != "" {
			if *b.dst, err = strconv.ParseBool(v); err != nil {
				return Config{}, fmt.Errorf("%w: %s=%q is not a bool (use true or false)", ErrInvalidConfig, b.env, v)
			}
		}
	}
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{{EnvDialTimeout, &c.DialTimeout}, {EnvBlock, &c.Block}} {
		if v := getenv(d.env); v != "" {
			if *d.dst, err = time.ParseDuration(v); err != nil {
				return Config{}, fmt.Errorf("%w: %s=%q is not a duration (e.g. 500ms)", ErrInvalidConfig, d.env, v)
			}
		}
	}
	if v := getenv(EnvDB); v != "" {
		if c.DB, err = strconv.Atoi(v); err != nil {
			return Config{}, fmt.Errorf("%w: %s=%q is not an integer", ErrInvalidConfig, EnvDB, v)
		}
	}
	if v := getenv(EnvEntryBytes); v != "" {
		if c.EntryBytes, err = strconv.ParseInt(v, 10, 64); err != nil {
			return Config{}, fmt.Errorf("%w: %s=%q is not an integer", ErrInvalidConfig, EnvEntryBytes, v)
		}
	}
	return c, nil
}
