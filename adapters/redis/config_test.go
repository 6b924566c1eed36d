package redis

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	def := Config{}.Default()
	tests := []struct {
		name    string
		env     map[string]string
		want    func(c *Config) // edits the default into the expected config
		wantErr string
	}{
		// No variables: exactly the defaults.
		{name: "empty", env: nil, want: func(*Config) {}},
		// A comma list becomes cluster seeds; blanks are dropped.
		{name: "addrs", env: map[string]string{EnvPrefix + "ADDR": "a:1, b:2,,"}, want: func(c *Config) { c.Addrs = []string{"a:1", "b:2"} }},
		// Every setting at once.
		{name: "all", env: map[string]string{
			"BROKERBENCH_REDIS_NAME": "redis7", "BROKERBENCH_REDIS_CLUSTER": "true", "BROKERBENCH_REDIS_USERNAME": "u",
			"BROKERBENCH_REDIS_PASSWORD": "p", "BROKERBENCH_REDIS_TLS": "1", "BROKERBENCH_REDIS_TLS_INSECURE_SKIP_VERIFY": "true",
			"BROKERBENCH_REDIS_TLS_SERVER_NAME": "srv", "BROKERBENCH_REDIS_DIAL_TIMEOUT": "2s", "BROKERBENCH_REDIS_BLOCK": "50ms",
			"BROKERBENCH_REDIS_ENTRY_BYTES": "300",
		}, want: func(c *Config) {
			c.Name, c.Cluster, c.Username, c.Password = "redis7", true, "u", "p"
			c.TLS = adapters.TLS{Enabled: true, InsecureSkipVerify: true, ServerName: "srv"}
			c.DialTimeout, c.Block, c.EntryBytes = 2*time.Second, 50*time.Millisecond, 300
		}},
		// Malformed values name the variable.
		{name: "bad bool", env: map[string]string{"BROKERBENCH_REDIS_TLS": "yes please"}, wantErr: "BROKERBENCH_REDIS_TLS"},
		{name: "bad duration", env: map[string]string{"BROKERBENCH_REDIS_BLOCK": "5"}, wantErr: "BROKERBENCH_REDIS_BLOCK"},
		{name: "bad db", env: map[string]string{"BROKERBENCH_REDIS_DB": "x"}, wantErr: "BROKERBENCH_REDIS_DB"},
		{name: "bad entry bytes", env: map[string]string{"BROKERBENCH_REDIS_ENTRY_BYTES": "1k"}, wantErr: "BROKERBENCH_REDIS_ENTRY_BYTES"},
		{name: "renamed TLS variable", env: map[string]string{"BROKERBENCH_REDIS_TLS_SKIP_VERIFY": "true"}, wantErr: "renamed BROKERBENCH_REDIS_TLS_INSECURE_SKIP_VERIFY"},
		{name: "db with cluster is validated", env: map[string]string{"BROKERBENCH_REDIS_DB": "3", "BROKERBENCH_REDIS_CLUSTER": "true"}, wantErr: "cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ConfigFromEnv(adaptertest.Env(tt.env))
			adaptertest.CheckConfigError(t, err, adapters.ErrInvalidConfig, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			want := def
			want.Addrs = append([]string(nil), def.Addrs...)
			tt.want(&want)
			if got.String() != want.String() || got.Password != want.Password || got.DB != want.DB ||
				got.TLS != want.TLS || got.Cluster != want.Cluster ||
				got.DialTimeout != want.DialTimeout {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string // "" means valid
	}{
		{"default is valid", func(*Config) {}, ""},
		{"empty name", func(c *Config) { c.Name = "" }, "Name"},
		{"no addrs", func(c *Config) { c.Addrs = nil }, "Addrs"},
		{"addr without port", func(c *Config) { c.Addrs = []string{"localhost"} }, "Addrs[0]"},
		{"bad port", func(c *Config) { c.Addrs = []string{"h:99999"} }, "port"},
		{"db with cluster", func(c *Config) { c.Cluster, c.DB = true, 1 }, "cluster"},
		{"negative db", func(c *Config) { c.DB = -1 }, "DB"},
		{"block zero would block forever", func(c *Config) { c.Block = 0 }, "Block"},
		{"zero entry bytes", func(c *Config) { c.EntryBytes = 0 }, "EntryBytes"},
		{"zero dial timeout", func(c *Config) { c.DialTimeout = 0 }, "DialTimeout"},
		{"negative maxlen", func(c *Config) { c.MaxLen = -1 }, "MaxLen"},
		{"negative max age", func(c *Config) { c.MaxAge = -time.Second }, "MaxAge"},
		{"maxlen and max age", func(c *Config) { c.MaxLen, c.MaxAge = 10, time.Minute }, "one strategy"},
		{"zero wait timeout", func(c *Config) { c.WaitTimeout = 0 }, "WaitTimeout"},
		{"missing CA file", func(c *Config) { c.TLS.CAFile = "/nonexistent/ca.pem" }, "TLS.CAFile"},
		{"CA file without PEM", func(c *Config) { c.TLS.CAFile = ca }, "no PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Config{}.Default()
			tt.edit(&c)
			adaptertest.CheckConfigError(t, c.Validate(), adapters.ErrInvalidConfig, tt.wantErr)
		})
	}
}

// TestEndpointSaysTLS: with TLS on, the endpoint in results says rediss://.
// (The TLS settings themselves are tested once, in package adapters.)
func TestEndpointSaysTLS(t *testing.T) {
	t.Parallel()
	c := Config{}.Default()
	c.TLS.InsecureSkipVerify = true
	if !strings.HasPrefix(c.endpoint(), "rediss://") {
		t.Fatalf("endpoint %q should say rediss:// with TLS", c.endpoint())
	}
}

func TestConfigStringRedactsPassword(t *testing.T) {
	t.Parallel()
	c := Config{}.Default()
	c.Username, c.Password = "alice", "s3cret-pw"
	for _, s := range []string{c.String(), c.endpoint()} {
		if strings.Contains(s, "s3cret-pw") {
			t.Fatalf("password leaked: %s", s)
		}
	}
}

func TestIDToOffset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want int64
	}{
		{"0-0", 0},                     // smallest ID
		{"0-1", 1},                     // seq in the low bits
		{"1-0", 1 << 20},               // ms above them
		{"1-1048575", 1<<20 | 1048575}, // largest seq that fits
		{"1-1048576", -1},              // seq of 2^20 does not fit
		{"1700000000000-5", 1700000000000<<20 | 5}, // a realistic ID
		{"8796093022207-0", 8796093022207 << 20},   // largest ms (2^43-1)
		{"8796093022208-0", -1},                    // ms of 2^43 does not fit
		{"12", -1},                                 // no dash
		{"a-1", -1},                                // not a number
		{"-1-1", -1},                               // negative
	}
	for _, tt := range tests {
		if got := IDToOffset(tt.id); got != tt.want {
			t.Errorf("IDToOffset(%q) = %d, want %d", tt.id, got, tt.want)
		}
		if tt.want >= 0 {
			if back := OffsetToID(tt.want); back != tt.id {
				t.Errorf("OffsetToID(%d) = %q, want %q", tt.want, back, tt.id)
			}
		}
	}
	// Monotonic: ID order is (ms, seq) order.
	ids := []string{"5-0", "5-1", "5-1048575", "6-0", "6-2", "1000-0"}
	for i := 1; i < len(ids); i++ {
		if IDToOffset(ids[i-1]) >= IDToOffset(ids[i]) {
			t.Errorf("offset(%s) >= offset(%s)", ids[i-1], ids[i])
		}
	}
}
