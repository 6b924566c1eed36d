package adapters_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// TestTLSBuild covers the TLS settings every adapter shares: what turns TLS
// on, and each unusable file named in the error.
func TestTLSBuild(t *testing.T) {
	t.Parallel()
	certFile, keyFile := adaptertest.WriteTLSFiles(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tls     adapters.TLS
		on      bool
		wantErr string
	}{
		{"off by default", adapters.TLS{}, false, ""},
		{"system roots", adapters.TLS{Enabled: true}, true, ""},
		{"skip verify implies TLS", adapters.TLS{InsecureSkipVerify: true}, true, ""},
		{"server name implies TLS", adapters.TLS{ServerName: "h"}, true, ""},
		{"CA and client certificate", adapters.TLS{CAFile: certFile, CertFile: certFile, KeyFile: keyFile}, true, ""},
		{"missing CA file", adapters.TLS{CAFile: "/nonexistent/ca.pem"}, true, "TLS.CAFile"},
		{"CA file without PEM", adapters.TLS{CAFile: garbage}, true, "no PEM"},
		{"cert without key", adapters.TLS{CertFile: certFile}, true, "set together"},
		{"key does not match", adapters.TLS{CertFile: certFile, KeyFile: garbage}, true, "client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.tls.On() != tt.on {
				t.Errorf("On() = %v, want %v", tt.tls.On(), tt.on)
			}
			cfg, err := tt.tls.Build()
			adaptertest.CheckConfigError(t, err, adapters.ErrInvalidConfig, tt.wantErr)
			if tt.wantErr == "" && (cfg != nil) != tt.on {
				t.Errorf("Build() = %v with TLS on %v", cfg, tt.on)
			}
			if cfg != nil && (cfg.InsecureSkipVerify != tt.tls.InsecureSkipVerify || cfg.ServerName != tt.tls.ServerName) {
				t.Errorf("Build() = %+v, want the settings of %+v", cfg, tt.tls)
			}
		})
	}
}

// TestApplyEnv reads one setting of each kind, and refuses malformed values
// and renamed variables with the variable's name and never a secret.
func TestApplyEnv(t *testing.T) {
	t.Parallel()
	type config struct {
		Name, Password string
		Addrs          []string
		On             bool
		Wait           time.Duration
		N              int16
		TLS            adapters.TLS
	}
	bind := func(c *config) []adapters.Setting {
		return append([]adapters.Setting{
			adapters.StringSetting("NAME", "Name", &c.Name, ""),
			adapters.SecretSetting("PASSWORD", "Password", &c.Password, ""),
			adapters.ListSetting("ADDRS", "Addrs", &c.Addrs, ""),
			adapters.BoolSetting("ON", "On", &c.On, ""),
			adapters.DurationSetting("WAIT", "Wait", &c.Wait, ""),
			adapters.IntSetting("N", "N", &c.N, ""),
		}, c.TLS.Settings()...)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{"nothing set", nil, config{}, ""},
		{"every kind", map[string]string{
			"X_NAME": " n ", "X_PASSWORD": " p w ", "X_ADDRS": "a:1, b:2,,", "X_ON": "true", "X_WAIT": "2s", "X_N": "-1",
			"X_TLS_CA_FILE": "/ca.pem", "X_TLS_INSECURE_SKIP_VERIFY": "1",
		}, config{Name: "n", Password: " p w ", Addrs: []string{"a:1", "b:2"}, On: true, Wait: 2 * time.Second, N: -1,
			TLS: adapters.TLS{CAFile: "/ca.pem", InsecureSkipVerify: true}}, ""},
		{"bad bool", map[string]string{"X_ON": "yes please"}, config{}, `X_ON="yes please" is not true or false`},
		{"bad duration", map[string]string{"X_WAIT": "5"}, config{}, "X_WAIT"},
		{"int out of range", map[string]string{"X_N": "40000"}, config{}, "X_N"},
		{"renamed", map[string]string{"X_TLS_SKIP_VERIFY": "true"}, config{}, "X_TLS_SKIP_VERIFY was renamed X_TLS_INSECURE_SKIP_VERIFY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got config
			err := adapters.ApplyEnv("X_", adaptertest.Env(tt.env), bind(&got))
			adaptertest.CheckConfigError(t, err, adapters.ErrInvalidConfig, tt.wantErr, " p w ")
			if tt.wantErr == "" && (got.Name != tt.want.Name || got.Password != tt.want.Password || strings.Join(got.Addrs, "|") != strings.Join(tt.want.Addrs, "|") ||
				got.On != tt.want.On || got.Wait != tt.want.Wait || got.N != tt.want.N || got.TLS != tt.want.TLS) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWriteEnvTable(t *testing.T) {
	t.Parallel()
	c := struct{ Name, Password string }{"redis", "s3cret"}
	var b strings.Builder
	err := adapters.WriteEnvTable(&b, "X_", []adapters.Setting{
		adapters.StringSetting("NAME", "Name", &c.Name, "label"),
		adapters.SecretSetting("PASSWORD", "Password", &c.Password, "never printed"),
		adapters.RenamedSetting("OLD", "NAME"),
	})
	want := "| Variable | Config field | Default | Notes |\n|---|---|---|---|\n" +
		"| `X_NAME` | `Name` | `redis` | label |\n" +
		"| `X_PASSWORD` | `Password` | (none) | never printed |\n"
	if err != nil || b.String() != want {
		t.Errorf("table (%v):\n%s\nwant:\n%s", err, b.String(), want)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},            // nothing to hide
		{"amqp://u:hunter2@h/", "amqp://u:xxxxx@h/"},                  // password
		{"nats://hunter2@h:4222", "nats://xxxxx@h:4222"},              // a lone user may be a token
		{"amqp://u:hun ter2@h:bad port/", "amqp://xxxxx@h:bad port/"}, // unparsable: everything before '@'
		{"u:hunter2@h", "xxxxx@h"},                                    // no scheme
		{"amqp://h/", "amqp://h/"},                                    // no credentials
	}
	for _, tt := range tests {
		if got := adapters.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if adapters.RedactSecret("") != "" || adapters.RedactSecret("hunter2") != adapters.Redacted {
		t.Error("RedactSecret shows a secret or invents one")
	}
}

// TestSentinelsDistinct: the shared sentinels are not wrapped in one
// another, so errors.Is tells them apart.
func TestSentinelsDistinct(t *testing.T) {
	t.Parallel()
	all := []error{adapters.ErrNotApplicable, adapters.ErrUnavailable, adapters.ErrInvalidConfig,
		adapters.ErrClosed, adapters.ErrTopicNotFound, adapters.ErrTopicMismatch, adapters.ErrBadPartition}
	for i, a := range all {
		for j, b := range all {
			if (i == j) != errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, errors.Is(a, b))
			}
		}
	}
}
