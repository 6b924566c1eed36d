package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c Config)
		wantErr string // substring; empty means success
	}{
		{name: "defaults when nothing is set", env: nil, check: func(t *testing.T, c Config) {
			if c.Name != "kafka" || len(c.Brokers) != 1 || c.Brokers[0] != "127.0.0.1:9092" || c.ReplicationFactor != -1 {
				t.Errorf("got %v, want defaults", c)
			}
		}},
		{name: "several brokers with spaces", env: map[string]string{"BROKERBENCH_KAFKA_BROKERS": " a:1, b:2 ,,c:3"}, check: func(t *testing.T, c Config) {
			if strings.Join(c.Brokers, "|") != "a:1|b:2|c:3" {
				t.Errorf("brokers = %q", c.Brokers)
			}
		}},
		{name: "name, client id, replication, dial timeout", env: map[string]string{
			"BROKERBENCH_KAFKA_NAME": "refbroker", "BROKERBENCH_KAFKA_CLIENT_ID": "bb", "BROKERBENCH_KAFKA_REPLICATION_FACTOR": "3", "BROKERBENCH_KAFKA_DIAL_TIMEOUT": "2s",
		}, check: func(t *testing.T, c Config) {
			if c.Name != "refbroker" || c.ClientID != "bb" || c.ReplicationFactor != 3 || c.DialTimeout != 2*time.Second {
				t.Errorf("got %v", c)
			}
		}},
		{name: "SASL SCRAM with password kept verbatim", env: map[string]string{
			"BROKERBENCH_KAFKA_SASL_MECHANISM": "scram-sha-512", "BROKERBENCH_KAFKA_SASL_USERNAME": "u", "BROKERBENCH_KAFKA_SASL_PASSWORD": " p w ",
		}, check: func(t *testing.T, c Config) {
			if c.SASL.Password != " p w " || c.SASL.Username != "u" {
				t.Errorf("got user %q password %q", c.SASL.Username, c.SASL.Password)
			}
		}},
		{name: "TLS insecure", env: map[string]string{"BROKERBENCH_KAFKA_TLS": "true", "BROKERBENCH_KAFKA_TLS_INSECURE_SKIP_VERIFY": "1"}, check: func(t *testing.T, c Config) {
			if !c.TLS.Enabled || !c.TLS.InsecureSkipVerify {
				t.Errorf("TLS = %+v", c.TLS)
			}
		}},
		{name: "bad replication factor", env: map[string]string{"BROKERBENCH_KAFKA_REPLICATION_FACTOR": "three"}, wantErr: "BROKERBENCH_KAFKA_REPLICATION_FACTOR"},
		{name: "zero replication factor", env: map[string]string{"BROKERBENCH_KAFKA_REPLICATION_FACTOR": "0"}, wantErr: "ReplicationFactor 0"},
		{name: "bad bool", env: map[string]string{"BROKERBENCH_KAFKA_TLS": "yes please"}, wantErr: "BROKERBENCH_KAFKA_TLS="},
		{name: "bad duration", env: map[string]string{"BROKERBENCH_KAFKA_DIAL_TIMEOUT": "5"}, wantErr: "BROKERBENCH_KAFKA_DIAL_TIMEOUT"},
		{name: "bad broker", env: map[string]string{"BROKERBENCH_KAFKA_BROKERS": "host:port"}, wantErr: "port"},
		{name: "a TLS file implies TLS, and is read", env: map[string]string{"BROKERBENCH_KAFKA_TLS_CA_FILE": "/x.pem"}, wantErr: "TLS.CAFile"},
		{name: "unknown SASL mechanism", env: map[string]string{"BROKERBENCH_KAFKA_SASL_MECHANISM": "GSSAPI", "BROKERBENCH_KAFKA_SASL_USERNAME": "u", "BROKERBENCH_KAFKA_SASL_PASSWORD": "secret"}, wantErr: "GSSAPI"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ConfigFromEnv(adaptertest.Env(tc.env))
			adaptertest.CheckConfigError(t, err, adapters.ErrInvalidConfig, tc.wantErr, "secret")
			if tc.wantErr != "" {
				return
			}
			tc.check(t, c)
		})
	}
}

func TestConfigValidateTLSAndSASL(t *testing.T) {
	t.Parallel()
	certFile, keyFile := adaptertest.WriteTLSFiles(t)
	tests := []struct {
		name    string
		mod     func(c *Config)
		wantErr string
	}{
		{"TLS with CA and client cert", func(c *Config) {
			c.TLS = adapters.TLS{Enabled: true, CAFile: certFile, CertFile: certFile, KeyFile: keyFile}
		}, ""},
		{"missing CA file", func(c *Config) { c.TLS = adapters.TLS{CAFile: "/nonexistent/ca.pem"} }, "TLS.CAFile"},
		{"PLAIN", func(c *Config) { c.SASL = SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "secret"} }, ""},
		{"SCRAM-SHA-256", func(c *Config) { c.SASL = SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "secret"} }, ""},
		{"SASL without password", func(c *Config) { c.SASL = SASLConfig{Mechanism: "PLAIN", Username: "u"} }, "needs both"},
		{"credentials without mechanism", func(c *Config) { c.SASL = SASLConfig{Username: "u", Password: "secret"} }, "Mechanism is empty"},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "Brokers is empty"},
		{"broker without port uses 9092", func(c *Config) { c.Brokers = []string{"kafka-1"} }, ""},
		{"empty name", func(c *Config) { c.Name = "" }, "Name is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Config{}.Default()
			tc.mod(&c)
			adaptertest.CheckConfigError(t, c.Validate(), adapters.ErrInvalidConfig, tc.wantErr, "secret")
		})
	}
}

func TestConfigStringRedactsPassword(t *testing.T) {
	t.Parallel()
	c := Config{}.Default()
	c.SASL = SASLConfig{Mechanism: SASLPlain, Username: "alice", Password: "hunter2"}
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password leaked: %s", s)
		}
	}
}

func TestNewUnavailable(t *testing.T) {
	t.Parallel()
	// Take a free port and release it, so nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := Config{}.Default()
	cfg.Brokers = []string{addr}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k, err := New(ctx, cfg)
	if err == nil {
		_ = k.Close()
		t.Fatal("New succeeded against a closed port")
	}
	if !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("err = %v, want adapters.ErrUnavailable", err)
	}
}

func TestNewInvalidConfig(t *testing.T) {
	t.Parallel()
	cfg := Config{}.Default()
	cfg.ReplicationFactor = -2
	if _, err := New(context.Background(), cfg); !errors.Is(err, adapters.ErrInvalidConfig) {
		t.Fatalf("err = %v, want adapters.ErrInvalidConfig", err)
	}
}
