package nats

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	creds := filepath.Join(t.TempDir(), "x.creds")
	if err := os.WriteFile(creds, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    func(c *Config) // edits the default into the expected config
		wantErr string
	}{
		// No variables: exactly the defaults.
		{name: "empty", want: func(*Config) {}},
		// Every setting at once.
		{name: "all", env: map[string]string{
			"BROKERBENCH_NATS_NAME": "nats29", "BROKERBENCH_NATS_URL": "nats://a:4222,nats://b:4222", "BROKERBENCH_NATS_USER": "u",
			"BROKERBENCH_NATS_PASSWORD": "p", "BROKERBENCH_NATS_CREDS_FILE": creds, "BROKERBENCH_NATS_TLS_INSECURE_SKIP_VERIFY": "true",
			"BROKERBENCH_NATS_STORAGE": "memory", "BROKERBENCH_NATS_REPLICAS": "3", "BROKERBENCH_NATS_CONNECT_TIMEOUT": "1s",
			"BROKERBENCH_NATS_API_TIMEOUT": "2s",
		}, want: func(c *Config) {
			c.Name, c.URL, c.User, c.Password = "nats29", "nats://a:4222,nats://b:4222", "u", "p"
			c.CredsFile, c.TLS.InsecureSkipVerify, c.Storage, c.Replicas = creds, true, "memory", 3
			c.ConnectTimeout, c.APITimeout = time.Second, 2*time.Second
		}},
		// A token alone.
		{name: "token", env: map[string]string{"BROKERBENCH_NATS_TOKEN": "t0k"}, want: func(c *Config) { c.Token = "t0k" }},
		// Malformed values name the variable.
		{name: "bad bool", env: map[string]string{"BROKERBENCH_NATS_TLS_INSECURE_SKIP_VERIFY": "maybe"}, wantErr: "BROKERBENCH_NATS_TLS_INSECURE_SKIP_VERIFY"},
		{name: "bad replicas", env: map[string]string{"BROKERBENCH_NATS_REPLICAS": "three"}, wantErr: "BROKERBENCH_NATS_REPLICAS"},
		{name: "bad duration", env: map[string]string{"BROKERBENCH_NATS_API_TIMEOUT": "5"}, wantErr: "BROKERBENCH_NATS_API_TIMEOUT"},
		{name: "validated", env: map[string]string{"BROKERBENCH_NATS_STORAGE": "disk"}, wantErr: "STORAGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ConfigFromEnv(adaptertest.Env(tt.env))
			adaptertest.CheckConfigError(t, err, adapters.ErrInvalidConfig, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			want := Config{}.Default()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string // "" means valid
	}{
		{"default is valid", func(*Config) {}, ""},
		{"empty name", func(c *Config) { c.Name = "" }, "Name"},
		{"empty url", func(c *Config) { c.URL = " " }, "URL"},
		{"url without host", func(c *Config) { c.URL = "nats://a:1,localhost" }, "URL #2"},
		{"bad storage", func(c *Config) { c.Storage = "disk" }, "Storage"},
		{"zero replicas", func(c *Config) { c.Replicas = 0 }, "Replicas"},
		{"cert without key", func(c *Config) { c.TLS.CertFile = file }, "TLS.KeyFile"},
		{"token and user", func(c *Config) { c.Token, c.User = "t", "u" }, "Token"},
		{"missing creds file", func(c *Config) { c.CredsFile = "/nonexistent.creds" }, "CredsFile"},
		{"CA file without PEM", func(c *Config) { c.TLS.CAFile = file }, "no PEM"},
		{"zero timeout", func(c *Config) { c.APITimeout = 0 }, "APITimeout"},
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

func TestRedaction(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},                              // nothing to hide
		{"nats://bob:s3cret@h:4222", "nats://bob:xxxxx@h:4222"},                         // password
		{"nats://s3cret@h:4222", "nats://xxxxx@h:4222"},                                 // a lone user is a token
		{"nats://b:s3cret@h:1, tls://s3cret@g:2", "nats://b:xxxxx@h:1,tls://xxxxx@g:2"}, // lists
	}
	for _, tt := range tests {
		c := Config{}.Default()
		c.URL, c.Password, c.Token = tt.in, "s3cret", "s3cret"
		if got := c.endpoint(); got != tt.want {
			t.Errorf("endpoint(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if s := c.String(); strings.Contains(s, "s3cret") {
			t.Errorf("String leaks a secret: %s", s)
		}
	}
	// Validation errors about a URL must not leak it either.
	c := Config{}.Default()
	c.URL = "nats://u:s3cret@"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Validate = %v; want an error without the password", err)
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		sameAsIn bool
	}{
		{"orders", true},  // already valid
		{"a-b_C9", true},  // dashes, underscores, digits, case
		{"a.b", false},    // dot is a subject separator
		{"a b*>", false},  // whitespace and wildcards
		{"häagen", false}, // non-ASCII
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := sanitize(tt.in)
		if (got == tt.in) != tt.sameAsIn {
			t.Errorf("sanitize(%q) = %q", tt.in, got)
		}
		for _, r := range got {
			if !(r == '_' || r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
				t.Errorf("sanitize(%q) = %q keeps %q", tt.in, got, r)
			}
		}
		seen[got] = tt.in
	}
	// Inputs that map to the same characters stay distinct via the hash.
	if sanitize("a.b") == sanitize("a*b") || sanitize("a.b") == "a_b" {
		t.Errorf("sanitize collides: %q %q", sanitize("a.b"), sanitize("a*b"))
	}
	if p, ok := partitionOf(subject("t.x", 12)); !ok || p != 12 {
		t.Errorf("partitionOf(subject(t.x, 12)) = %d, %t", p, ok)
	}
}

func TestKeyHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, k := range [][]byte{nil, {}, all, []byte("k")} {
		h := map[string][]string{}
		if k != nil {
			h[keyHeader] = []string{encodeKey(k)}
		}
		got, err := decodeKey(h)
		if err != nil || string(got) != string(k) || (got == nil) != (k == nil) {
			t.Errorf("key %q: got %q (nil %t), %v", k, got, got == nil, err)
		}
	}
	if _, err := decodeKey(map[string][]string{keyHeader: {"zzz"}}); err == nil {
		t.Error("malformed key header accepted")
	}
}
