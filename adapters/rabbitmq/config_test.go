package rabbitmq

import (
	"errors"
	"fmt"
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
		check   func(Config) bool
		wantErr string // substring of the error; "" means success
	}{
		// Nothing set: the defaults.
		{name: "defaults", env: nil, check: func(c Config) bool {
			return c.Name == "rabbitmq" && c.QueueType == "" && c.URL == Config{}.Default().URL && c.Heartbeat == 10*time.Second
		}},
		// Every string setting lands in its field.
		{name: "strings", env: map[string]string{
			"BROKERBENCH_RABBITMQ_NAME": "rmq", "BROKERBENCH_RABBITMQ_URL": "amqps://h:5671/vh",
			"BROKERBENCH_RABBITMQ_USER": "u", "BROKERBENCH_RABBITMQ_PASSWORD": "p",
			"BROKERBENCH_RABBITMQ_TLS_SERVER_NAME": "sn",
		}, check: func(c Config) bool {
			return c.Name == "rmq" && c.URL == "amqps://h:5671/vh" && c.User == "u" && c.Password == "p" && c.TLS.ServerName == "sn"
		}},
		// Queue type is case-insensitive.
		{name: "queue type", env: map[string]string{"BROKERBENCH_RABBITMQ_QUEUE_TYPE": "Stream"},
			check: func(c Config) bool { return c.QueueType == QueueStream }},
		{name: "bad queue type", env: map[string]string{"BROKERBENCH_RABBITMQ_QUEUE_TYPE": "mirrored"},
			wantErr: "BROKERBENCH_RABBITMQ_QUEUE_TYPE"},
		{name: "bools and durations", env: map[string]string{
			"BROKERBENCH_RABBITMQ_URL": "amqps://h/", "BROKERBENCH_RABBITMQ_TLS_INSECURE_SKIP_VERIFY": "true",
			"BROKERBENCH_RABBITMQ_TRANSIENT": "1", "BROKERBENCH_RABBITMQ_HEARTBEAT": "3s", "BROKERBENCH_RABBITMQ_DIAL_TIMEOUT": "250ms",
		}, check: func(c Config) bool {
			return c.TLS.InsecureSkipVerify && c.Transient && c.Heartbeat == 3*time.Second && c.DialTimeout == 250*time.Millisecond
		}},
		{name: "bad bool", env: map[string]string{"BROKERBENCH_RABBITMQ_TLS_INSECURE_SKIP_VERIFY": "yes please"},
			wantErr: "BROKERBENCH_RABBITMQ_TLS_INSECURE_SKIP_VERIFY"},
		{name: "TLS without amqps", env: map[string]string{"BROKERBENCH_RABBITMQ_TLS": "true"}, wantErr: "amqps://"},
		{name: "bad duration", env: map[string]string{"BROKERBENCH_RABBITMQ_HEARTBEAT": "10"},
			wantErr: "BROKERBENCH_RABBITMQ_HEARTBEAT"},
		{name: "cert without key", env: map[string]string{"BROKERBENCH_RABBITMQ_URL": "amqps://h/", "BROKERBENCH_RABBITMQ_TLS_CERT_FILE": "/c"},
			wantErr: "TLS.KeyFile"},
		{name: "bad scheme", env: map[string]string{"BROKERBENCH_RABBITMQ_URL": "http://u:hunter2@h/"},
			wantErr: "not an AMQP URI"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ConfigFromEnv(adaptertest.Env(tc.env))
			adaptertest.CheckConfigError(t, err, adapters.ErrInvalidConfig, tc.wantErr, "hunter2")
			if tc.wantErr != "" {
				return
			}
			if !tc.check(c) {
				t.Errorf("config %+v does not match", c)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" means valid
	}{
		{"default", func(*Config) {}, ""},
		{"empty name", func(c *Config) { c.Name = "" }, "Name"},
		{"empty url", func(c *Config) { c.URL = "" }, "URL is empty"},
		{"bad url", func(c *Config) { c.URL = "amqp://u:hunter2@h:notaport/" }, "not an AMQP URI"},
		{"queue type", func(c *Config) { c.QueueType = "lazy" }, "QueueType"},
		{"key without cert", func(c *Config) { c.URL, c.TLS.KeyFile = "amqps://h/", "/k" }, "TLS.CertFile"},
		{"negative heartbeat", func(c *Config) { c.Heartbeat = -time.Second }, "Heartbeat"},
		{"zero dial timeout", func(c *Config) { c.DialTimeout = 0 }, "DialTimeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Config{}.Default()
			tc.mutate(&c)
			adaptertest.CheckConfigError(t, c.Validate(), adapters.ErrInvalidConfig, tc.want, "hunter2")
		})
	}
}

// TestRedaction: passwords never show in Endpoint, String or %v/%+v output,
// whether they come from the URL or the Password setting.
func TestRedaction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		url      string
		user     string
		password string
		endpoint string
	}{
		{"password in url", "amqp://bob:hunter2@h:5672/vh", "", "", "amqp://bob:xxxxx@h:5672/vh"},
		{"separate password", "amqp://h:5672/", "bob", "hunter2", "amqp://bob:xxxxx@h:5672/"},
		{"separate overrides url", "amqp://alice:other-hunter2@h:5672/", "bob", "hunter2", "amqp://bob:xxxxx@h:5672/"},
		{"no credentials uses guest", "amqp://h:5672/", "", "", "amqp://guest:xxxxx@h:5672/"},
		{"tls", "amqps://bob:hunter2@h/", "", "", "amqps://bob:xxxxx@h:5671/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Config{}.Default()
			c.URL, c.User, c.Password = tc.url, tc.user, tc.password
			if got := c.Endpoint(); got != tc.endpoint {
				t.Errorf("Endpoint = %q, want %q", got, tc.endpoint)
			}
			for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprint(&c)} {
				if strings.Contains(s, "hunter2") {
					t.Errorf("output leaks the password: %s", s)
				}
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"orders.v1-eu_west", true},
		{"", false},
		{"a/b", false},
		{"amq.direct", false},
		{strings.Repeat("x", 236), false},
	}
	for _, tc := range tests {
		err := checkName("topic", tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("checkName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("checkName(%q) error does not wrap ErrInvalidName: %v", tc.name, err)
		}
	}
}
