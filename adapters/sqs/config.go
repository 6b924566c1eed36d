package sqs

import (
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/brokerbench/brokerbench/adapters"
)

// EnvPrefix prefixes every setting [ConfigFromEnv] reads
// (docs/adapters/sqs.md lists them, generated from [EnvSettings]).
// Credentials are deliberately not among them: they come from the standard
// AWS chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE and
// the shared config files, web identity, ECS and EC2 instance roles), which
// the SDK reads itself.
const EnvPrefix = "BROKERBENCH_SQS_"

// SQS limits the settings are checked against.
const (
	maxWaitTime          = 20 * time.Second // ReceiveMessage WaitTimeSeconds
	maxVisibilityTimeout = 12 * time.Hour   // 43200 s
	maxPrefixLen         = 20               // leaves room for the topic in an 80-character name
)

// Config holds the settings of an SQS adapter. Build it with
// [Config.Default] (or [ConfigFromEnv]) and change fields; [New] validates
// it. Credentials never appear in String output, errors or Info.
type Config struct {
	// Name is the system name reported by Name() and in results. Default
	// "sqs".
	Name string
	// Region is the AWS region, such as "eu-west-1". Empty means the
	// region of the standard chain (AWS_REGION, the shared config); New
	// fails when neither says.
	Region string
	// Endpoint overrides the SQS endpoint URL, for emulators and VPC
	// interface endpoints, such as "http://127.0.0.1:5000". Empty means
	// the region's public endpoint.
	Endpoint string
	// Credentials, when set, replaces the standard AWS credential chain.
	// Only programs and tests set it; the command line always uses the
	// chain. It is never printed.
	Credentials aws.CredentialsProvider
	// QueuePrefix starts the name of every queue the adapter creates, so
	// that a shared account can tell brokerbench's queues apart and an IAM
	// policy can be scoped to them ("arn:aws:sqs:*:*:bb-*"). Default
	// "bb-"; at most 20 characters of letters, digits, '-' and '_'.
	QueuePrefix string
	// FIFO creates FIFO queues: a partition's messages form one message
	// group, delivered in order, and every send carries a deduplication
	// id, which makes producers idempotent. Default false (standard
	// queues: at-least-once, best-effort order, higher throughput).
	FIFO bool
	// VisibilityTimeout is the ack deadline: how long a received message
	// stays invisible to other consumers before SQS redelivers it. A
	// consumer's ConsumerConfig.SessionTimeout overrides it. Whole
	// seconds, 1s to 12h; default 30s (the SQS default).
	VisibilityTimeout time.Duration
	// WaitTime is the long-polling wait of one ReceiveMessage
	// (WaitTimeSeconds): a receive returns as soon as a message arrives,
	// so it adds no latency, but a graceful Close waits for the current
	// poll to end. Whole seconds, 0 to 20s; default 2s. 0 is short
	// polling, which SQS bills per empty receive.
	WaitTime time.Duration
	// MaxAttempts bounds the SDK's attempts per request, the first
	// included; throttling and 5xx errors are retried with exponential
	// backoff and counted ([SQS.Throttled]). Default 5.
	MaxAttempts int
	// SendConcurrency bounds a producer's concurrent SendMessageBatch
	// requests. Default 16.
	SendConcurrency int
}

// Default returns c with every zero setting replaced by its default;
// Config{}.Default() is standard queues prefixed "bb-" on the region and
// credentials of the standard AWS chain. FIFO, Region and Endpoint have no
// default (false and empty mean the standard choice).
func (c Config) Default() Config {
	adapters.SetDefault(&c.Name, "sqs")
	adapters.SetDefault(&c.QueuePrefix, "bb-")
	adapters.SetDefault(&c.VisibilityTimeout, 30*time.Second)
	adapters.SetDefault(&c.WaitTime, 2*time.Second)
	adapters.SetDefault(&c.MaxAttempts, 5)
	adapters.SetDefault(&c.SendConcurrency, 16)
	return c
}

// Validate reports the first invalid setting, naming it and how to fix it.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("%w: Name is empty; set it (default %q)", adapters.ErrInvalidConfig, "sqs")
	case len(c.QueuePrefix) > maxPrefixLen || !validNameChars(c.QueuePrefix):
		return fmt.Errorf("%w: QueuePrefix %q must be at most %d letters, digits, '-' or '_' (set %s, default \"bb-\")",
			adapters.ErrInvalidConfig, c.QueuePrefix, maxPrefixLen, EnvPrefix+"QUEUE_PREFIX")
	case !wholeSeconds(c.VisibilityTimeout) || c.VisibilityTimeout < time.Second || c.VisibilityTimeout > maxVisibilityTimeout:
		return fmt.Errorf("%w: VisibilityTimeout %v must be whole seconds from 1s to 12h (set %s, e.g. 30s)",
			adapters.ErrInvalidConfig, c.VisibilityTimeout, EnvPrefix+"VISIBILITY_TIMEOUT")
	case !wholeSeconds(c.WaitTime) || c.WaitTime < 0 || c.WaitTime > maxWaitTime:
		return fmt.Errorf("%w: WaitTime %v must be whole seconds from 0 to 20s (set %s, e.g. 2s)",
			adapters.ErrInvalidConfig, c.WaitTime, EnvPrefix+"WAIT_TIME")
	case c.MaxAttempts < 1:
		return fmt.Errorf("%w: MaxAttempts %d must be at least 1 (set %s, e.g. 5)", adapters.ErrInvalidConfig, c.MaxAttempts, EnvPrefix+"MAX_ATTEMPTS")
	case c.SendConcurrency < 1:
		return fmt.Errorf("%w: SendConcurrency %d must be at least 1 (set %s, e.g. 16)", adapters.ErrInvalidConfig, c.SendConcurrency, EnvPrefix+"SEND_CONCURRENCY")
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: Endpoint %q is not an http(s) URL (set %s like http://127.0.0.1:5000)", adapters.ErrInvalidConfig, adapters.RedactURL(c.Endpoint), EnvPrefix+"ENDPOINT")
		}
		if u.User != nil {
			return fmt.Errorf("%w: Endpoint must not carry credentials; use the standard AWS chain", adapters.ErrInvalidConfig)
		}
	}
	return nil
}

func wholeSeconds(d time.Duration) bool { return d%time.Second == 0 }

// validNameChars reports whether s uses only characters SQS allows in a
// queue name.
func validNameChars(s string) bool {
	for _, r := range s {
		if !nameChar(r) {
			return false
		}
	}
	return true
}

func nameChar(r rune) bool {
	return r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
}

// endpoint describes where the system is reached, without credentials.
func (c Config) endpoint(region string) string {
	if c.Endpoint != "" {
		return c.Endpoint
	}
	return "https://sqs." + region + ".amazonaws.com"
}

// String describes the configuration. It never includes credentials.
func (c Config) String() string {
	creds := "standard chain"
	if c.Credentials != nil {
		creds = "explicit"
	}
	return fmt.Sprintf("sqs.Config{Name:%s Region:%s Endpoint:%s Credentials:%s QueuePrefix:%s FIFO:%t VisibilityTimeout:%v WaitTime:%v MaxAttempts:%d SendConcurrency:%d}",
		c.Name, c.Region, c.Endpoint, creds, c.QueuePrefix, c.FIFO, c.VisibilityTimeout, c.WaitTime, c.MaxAttempts, c.SendConcurrency)
}

// settings binds c's fields to their BROKERBENCH_SQS_* variables.
func (c *Config) settings() []adapters.Setting {
	return []adapters.Setting{
		adapters.StringSetting("NAME", "Name", &c.Name, "label in results"),
		adapters.StringSetting("REGION", "Region", &c.Region, "empty: the standard chain (`AWS_REGION`, shared config); `New` fails when no source names one"),
		adapters.StringSetting("ENDPOINT", "Endpoint", &c.Endpoint, "empty: the region's public endpoint; `http(s)://host[:port]` for emulators and VPC interface endpoints; must not carry credentials"),
		adapters.StringSetting("QUEUE_PREFIX", "QueuePrefix", &c.QueuePrefix, "starts every queue name; at most 20 of `[A-Za-z0-9_-]`; scope an IAM policy with it (`arn:aws:sqs:*:*:bb-*`)"),
		adapters.BoolSetting("FIFO", "FIFO", &c.FIFO, "FIFO queues, see below"),
		adapters.DurationSetting("VISIBILITY_TIMEOUT", "VisibilityTimeout", &c.VisibilityTimeout, "the ack deadline; whole seconds, 1s to 12h; a consumer's `SessionTimeout` overrides it"),
		adapters.DurationSetting("WAIT_TIME", "WaitTime", &c.WaitTime, "long-polling wait of one receive; whole seconds, 0 to 20s"),
		adapters.IntSetting("MAX_ATTEMPTS", "MaxAttempts", &c.MaxAttempts, "SDK attempts per request, the first included"),
		adapters.IntSetting("SEND_CONCURRENCY", "SendConcurrency", &c.SendConcurrency, "concurrent `SendMessageBatch` requests per producer"),
	}
}

// EnvSettings lists the variables [ConfigFromEnv] reads, bound to a
// default Config (for the docs).
func EnvSettings() []adapters.Setting { return adapters.DefaultSettings((*Config).settings) }

// ConfigFromEnv returns [Config.Default] overridden by the
// BROKERBENCH_SQS_* variables that are set ([EnvSettings]), read through
// getenv (usually os.Getenv), and validated. A malformed value is an error
// naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	return adapters.ConfigFromEnv(EnvPrefix, getenv, (*Config).settings)
}
