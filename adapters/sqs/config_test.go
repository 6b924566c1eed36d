package sqs

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
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
			"BROKERBENCH_SQS_NAME": "sqs-eu", "BROKERBENCH_SQS_REGION": "eu-west-1", "BROKERBENCH_SQS_ENDPOINT": "http://127.0.0.1:5000", "BROKERBENCH_SQS_QUEUE_PREFIX": "x_",
			"BROKERBENCH_SQS_FIFO": "true", "BROKERBENCH_SQS_VISIBILITY_TIMEOUT": "1m", "BROKERBENCH_SQS_WAIT_TIME": "20s", "BROKERBENCH_SQS_MAX_ATTEMPTS": "3", "BROKERBENCH_SQS_SEND_CONCURRENCY": "4",
		}, want: func(c *Config) {
			c.Name, c.Region, c.Endpoint, c.QueuePrefix, c.FIFO = "sqs-eu", "eu-west-1", "http://127.0.0.1:5000", "x_", true
			c.VisibilityTimeout, c.WaitTime, c.MaxAttempts, c.SendConcurrency = time.Minute, 20*time.Second, 3, 4
		}},
		// Malformed values name the variable.
		{name: "bad bool", env: map[string]string{"BROKERBENCH_SQS_FIFO": "fifo"}, wantErr: "BROKERBENCH_SQS_FIFO"},
		{name: "bad duration", env: map[string]string{"BROKERBENCH_SQS_WAIT_TIME": "5"}, wantErr: "BROKERBENCH_SQS_WAIT_TIME"},
		{name: "bad visibility", env: map[string]string{"BROKERBENCH_SQS_VISIBILITY_TIMEOUT": "long"}, wantErr: "BROKERBENCH_SQS_VISIBILITY_TIMEOUT"},
		{name: "bad attempts", env: map[string]string{"BROKERBENCH_SQS_MAX_ATTEMPTS": "many"}, wantErr: "BROKERBENCH_SQS_MAX_ATTEMPTS"},
		{name: "validated", env: map[string]string{"BROKERBENCH_SQS_WAIT_TIME": "30s"}, wantErr: "WaitTime"},
		{name: "bad concurrency", env: map[string]string{"BROKERBENCH_SQS_SEND_CONCURRENCY": "1.5"}, wantErr: "BROKERBENCH_SQS_SEND_CONCURRENCY"},
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
			if got.String() != want.String() {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string // "" means valid
	}{
		{"default is valid", func(*Config) {}, ""},
		{"empty name", func(c *Config) { c.Name = "" }, "Name"},
		{"prefix with a dot", func(c *Config) { c.QueuePrefix = "bb." }, "QueuePrefix"},
		{"prefix too long", func(c *Config) { c.QueuePrefix = strings.Repeat("b", 21) }, "QueuePrefix"},
		{"empty prefix", func(c *Config) { c.QueuePrefix = "" }, ""},
		{"visibility not whole seconds", func(c *Config) { c.VisibilityTimeout = 1500 * time.Millisecond }, "VisibilityTimeout"},
		{"visibility zero", func(c *Config) { c.VisibilityTimeout = 0 }, "VisibilityTimeout"},
		{"visibility over 12h", func(c *Config) { c.VisibilityTimeout = 13 * time.Hour }, "VisibilityTimeout"},
		{"wait over 20s", func(c *Config) { c.WaitTime = 21 * time.Second }, "WaitTime"},
		{"short polling", func(c *Config) { c.WaitTime = 0 }, ""},
		{"no attempts", func(c *Config) { c.MaxAttempts = 0 }, "MaxAttempts"},
		{"no send concurrency", func(c *Config) { c.SendConcurrency = 0 }, "SendConcurrency"},
		{"endpoint not a URL", func(c *Config) { c.Endpoint = "127.0.0.1:5000" }, "Endpoint"},
		{"endpoint with credentials", func(c *Config) { c.Endpoint = "http://key:secret@127.0.0.1:5000" }, "credentials"},
		{"schemeless endpoint with credentials", func(c *Config) { c.Endpoint = "key:secret@127.0.0.1:5000" }, "Endpoint"},
		{"https endpoint", func(c *Config) { c.Endpoint = "https://vpce-1.sqs.eu-west-1.vpce.amazonaws.com" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Config{}.Default()
			tt.edit(&c)
			adaptertest.CheckConfigError(t, c.Validate(), adapters.ErrInvalidConfig, tt.wantErr, "secret")
		})
	}
}

func TestConfigStringHidesCredentials(t *testing.T) {
	t.Parallel()
	c := Config{}.Default()
	c.Credentials = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI-secret", "token-secret")
	for _, s := range []string{c.String(), c.endpoint("eu-west-1")} {
		if strings.Contains(s, "AKIDEXAMPLE") || strings.Contains(s, "secret") {
			t.Fatalf("credentials leaked: %s", s)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name       string
		key, value []byte
	}{
		{"nil key", nil, []byte("v")},
		{"empty key", []byte{}, []byte("v")},
		{"empty value", []byte("k"), []byte{}},
		{"all bytes", all, all},
		{"long key", make([]byte, 300), []byte{0}}, // a two-byte uvarint length
	}
	for _, tt := range tests {
		body, err := encodeBody(tt.key, tt.value)
		if err != nil {
			t.Fatalf("%s: encode: %v", tt.name, err)
		}
		k, v, err := decodeBody(body)
		if err != nil || string(k) != string(tt.key) || (k == nil) != (tt.key == nil) || string(v) != string(tt.value) {
			t.Errorf("%s: round trip = %q (nil %t), %q, %v", tt.name, k, k == nil, v, err)
		}
	}
	if _, err := encodeBody(nil, make([]byte, maxBodyBytes)); err == nil {
		t.Error("encoding a 256 KiB value succeeded; base64 makes it too large for SQS")
	}
	for _, foreign := range []string{"", "hello world", "AA==", "Ag==", "AQU="} {
		if _, _, err := decodeBody(foreign); err == nil {
			t.Errorf("decodeBody(%q) accepted a body the adapter did not write", foreign)
		}
	}
}

func TestQueueNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("t.o/p:i c", 30)
	for _, fifo := range []bool{false, true} {
		n := queueNames{prefix: strings.Repeat("p", maxPrefixLen), fifo: fifo}
		names := []string{
			n.meta(long), n.dlq(long, long), n.partition(long, long, 99999),
			n.partition(long, long+"x", 0), n.partition(long+"x", long, 0), n.partition(long, long, 1),
		}
		seen := map[string]bool{}
		for _, name := range names {
			base, _ := strings.CutSuffix(name, ".fifo")
			if len(name) > 80 || !validNameChars(base) || strings.HasSuffix(name, ".fifo") != fifo {
				t.Errorf("queue name %q (%d characters) is not a valid SQS name", name, len(name))
			}
			if seen[name] {
				t.Errorf("two queues named %q", name)
			}
			seen[name] = true
		}
	}
}
