package redis

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// EnvPrefix prefixes every setting [ConfigFromEnv] reads
// (docs/adapters/redis.md lists them, generated from [EnvSettings]).
const EnvPrefix = "BROKERBENCH_REDIS_"

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
	// TLS configures encryption; off by default.
	TLS adapters.TLS
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
	// MaxLen, when > 0, trims every partition stream to about that many
	// entries (XADD ... MAXLEN ~ MaxLen), whatever the workload's
	// retention. Off by default: trimming drops entries whether or not
	// every subscription has consumed them, so a slow consumer loses
	// data (counted as lost). With a workload retention as well, the
	// smaller bound applies.
	MaxLen int64
	// MaxAge, when > 0, trims entries older than about MaxAge from every
	// partition stream (XADD ... MINID ~ <now - MaxAge>). Off by default,
	// for the same reason as MaxLen. Redis trims by one strategy per
	// XADD, so MaxAge excludes MaxLen and workload retention.
	MaxAge time.Duration
	// WaitTimeout bounds each WAIT for replicas (durability replicated):
	// a pipeline of sends not acknowledged by the quorum of replicas
	// within it fails. Default 5s.
	WaitTimeout time.Duration
}

// Default returns c with every zero setting replaced by its default;
// Config{}.Default() is a single Redis on 127.0.0.1:6379 without TLS or
// credentials.
func (c Config) Default() Config {
	adapters.SetDefault(&c.Name, "redis")
	if len(c.Addrs) == 0 {
		c.Addrs = []string{"127.0.0.1:6379"}
	}
	adapters.SetDefault(&c.DialTimeout, 5*time.Second)
	adapters.SetDefault(&c.Block, 500*time.Millisecond)
	adapters.SetDefault(&c.EntryBytes, 1024)
	adapters.SetDefault(&c.WaitTimeout, 5*time.Second)
	return c
}

// Validate reports the first invalid setting, naming it and how to fix it.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("%w: Name is empty; set it (default %q)", adapters.ErrInvalidConfig, "redis")
	case len(c.Addrs) == 0:
		return fmt.Errorf("%w: Addrs is empty; set %sADDR to host:port", adapters.ErrInvalidConfig, EnvPrefix)
	case c.DB < 0:
		return fmt.Errorf("%w: DB %d is negative; use 0 or more", adapters.ErrInvalidConfig, c.DB)
	case c.DB != 0 && c.isCluster():
		return fmt.Errorf("%w: DB %d with Redis Cluster; cluster supports only DB 0", adapters.ErrInvalidConfig, c.DB)
	case c.DialTimeout <= 0:
		return fmt.Errorf("%w: DialTimeout %v must be positive (e.g. 5s)", adapters.ErrInvalidConfig, c.DialTimeout)
	case c.Block < time.Millisecond:
		return fmt.Errorf("%w: Block %v must be at least 1ms (e.g. 500ms)", adapters.ErrInvalidConfig, c.Block)
	case c.EntryBytes <= 0:
		return fmt.Errorf("%w: EntryBytes %d must be positive (e.g. 1024)", adapters.ErrInvalidConfig, c.EntryBytes)
	case c.MaxLen < 0:
		return fmt.Errorf("%w: MaxLen %d is negative; use 0 (no trimming) or an entry count", adapters.ErrInvalidConfig, c.MaxLen)
	case c.MaxAge < 0:
		return fmt.Errorf("%w: MaxAge %v is negative; use 0 (no trimming) or an age such as 10m", adapters.ErrInvalidConfig, c.MaxAge)
	case c.MaxAge > 0 && c.MaxLen > 0:
		return fmt.Errorf("%w: MaxLen %d and MaxAge %v are both set; Redis trims by one strategy per XADD (MAXLEN or MINID), set one", adapters.ErrInvalidConfig, c.MaxLen, c.MaxAge)
	case c.WaitTimeout <= 0:
		return fmt.Errorf("%w: WaitTimeout %v must be positive (e.g. 5s)", adapters.ErrInvalidConfig, c.WaitTimeout)
	}
	for i, a := range c.Addrs {
		host, port, ok := strings.Cut(a, ":")
		if !ok || host == "" || port == "" {
			return fmt.Errorf("%w: Addrs[%d] %q is not host:port (set %sADDR like 127.0.0.1:6379)", adapters.ErrInvalidConfig, i, a, EnvPrefix)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("%w: Addrs[%d] %q has an invalid port", adapters.ErrInvalidConfig, i, a)
		}
	}
	return c.TLS.Validate()
}

func (c Config) isCluster() bool { return c.Cluster || len(c.Addrs) > 1 }

// endpoint describes where the system is reached, without credentials.
func (c Config) endpoint() string {
	scheme := "redis"
	if c.TLS.On() {
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
	return fmt.Sprintf("redis.Config{Name:%s Endpoint:%s Username:%s Password:%s TLS.CAFile:%s TLS.InsecureSkipVerify:%t Block:%v EntryBytes:%d MaxLen:%d MaxAge:%v WaitTimeout:%v}",
		c.Name, c.endpoint(), c.Username, adapters.RedactSecret(c.Password), c.TLS.CAFile, c.TLS.InsecureSkipVerify, c.Block, c.EntryBytes, c.MaxLen, c.MaxAge, c.WaitTimeout)
}

// settings binds c's fields to their BROKERBENCH_REDIS_* variables.
func (c *Config) settings() []adapters.Setting {
	return append([]adapters.Setting{
		adapters.StringSetting("NAME", "Name", &c.Name, "label in results"),
		adapters.ListSetting("ADDR", "Addrs", &c.Addrs, "comma-separated; two or more mean Redis Cluster"),
		adapters.BoolSetting("CLUSTER", "Cluster", &c.Cluster, "cluster client with a single seed address"),
		adapters.StringSetting("USERNAME", "Username", &c.Username, "ACL user"),
		adapters.SecretSetting("PASSWORD", "Password", &c.Password, "never printed; `Config.String()` shows `xxxxx`"),
		adapters.IntSetting("DB", "DB", &c.DB, "single server only"),
		adapters.DurationSetting("DIAL_TIMEOUT", "DialTimeout", &c.DialTimeout, ""),
		adapters.DurationSetting("BLOCK", "Block", &c.Block, "XREADGROUP BLOCK; bounds Close, adds no latency"),
		adapters.IntSetting("ENTRY_BYTES", "EntryBytes", &c.EntryBytes, "retention conversion, see below"),
		adapters.IntSetting("MAXLEN", "MaxLen", &c.MaxLen, "`MAXLEN ~` per partition stream; 0 off (trimming drops unconsumed entries)"),
		adapters.DurationSetting("MAX_AGE", "MaxAge", &c.MaxAge, "`MINID ~` now minus this; 0 off; excludes MAXLEN"),
		adapters.DurationSetting("WAIT_TIMEOUT", "WaitTimeout", &c.WaitTimeout, "WAIT for replicas (durability `replicated`)"),
	}, c.TLS.Settings()...)
}

// EnvSettings lists the variables [ConfigFromEnv] reads, bound to a
// default Config (for the docs).
func EnvSettings() []adapters.Setting { return adapters.DefaultSettings((*Config).settings) }

// ConfigFromEnv returns [Config.Default] overridden by the
// BROKERBENCH_REDIS_* variables that are set ([EnvSettings]), read through
// getenv (usually os.Getenv), and validated. A malformed value is an error
// naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	return adapters.ConfigFromEnv(EnvPrefix, getenv, (*Config).settings)
}
