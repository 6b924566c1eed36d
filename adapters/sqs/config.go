package sqs

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Environment variables read by [ConfigFromEnv]. Unset or empty variables
// keep the [Config.Default] value. Credentials are deliberately not among
// them: they come from the standard AWS chain (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared config files, web
// identity, ECS and EC2 instance roles), which the SDK reads itself.
const (
	EnvName              = "BROKERBENCH_SQS_NAME"               // Config.Name
	EnvRegion            = "BROKERBENCH_SQS_REGION"             // Config.Region
	EnvEndpoint          = "BROKERBENCH_SQS_ENDPOINT"           // Config.Endpoint, a URL
	EnvQueuePrefix       = "BROKERBENCH_SQS_QUEUE_PREFIX"       // Config.QueuePrefix
	EnvFIFO              = "BROKERBENCH_SQS_FIFO"               // Config.FIFO, a Go bool
	EnvVisibilityTimeout = "BROKERBENCH_SQS_VISIBILITY_TIMEOUT" // Config.VisibilityTimeout, a Go duration
	EnvWaitTime          = "BROKERBENCH_SQS_WAIT_TIME"          // Config.WaitTime, a Go duration
	EnvMaxAttempts       = "BROKERBENCH_SQS_MAX_ATTEMPTS"       // Config.MaxAttempts
	EnvSendConcurrency   = "BROKERBENCH_SQS_SEND_CONCURRENCY"   // Config.SendConcurrency
)

// EnvVars lists every variable [ConfigFromEnv] reads, for a command's help
// and a system registry.
var EnvVars = []string{
	EnvName, EnvRegion, EnvEndpoint, EnvQueuePrefix, EnvFIFO,
	EnvVisibilityTimeout, EnvWaitTime, EnvMaxAttempts, EnvSendConcurrency,
}

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

// Default returns the default configuration: standard queues prefixed
// "bb-" on the region and credentials of the standard AWS chain.
func (Config) Default() Config {
	return Config{
		Name:              "sqs",
		QueuePrefix:       "bb-",
		VisibilityTimeout: 30 * time.Second,
		WaitTime:          2 * time.Second,
		MaxAttempts:       5,
		SendConcurrency:   16,
	}
}

// Validate reports the first invalid setting, naming it and how to fix it.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("%w: Name is empty; set it (default %q)", ErrInvalidConfig, "sqs")
	case len(c.QueuePrefix) > maxPrefixLen || !validNameChars(c.QueuePrefix):
		return fmt.Errorf("%w: QueuePrefix %q must be at most %d letters, digits, '-' or '_' (set %s, default \"bb-\")",
			ErrInvalidConfig, c.QueuePrefix, maxPrefixLen, EnvQueuePrefix)
	case !wholeSeconds(c.VisibilityTimeout) || c.VisibilityTimeout < time.Second || c.VisibilityTimeout > maxVisibilityTimeout:
		return fmt.Errorf("%w: VisibilityTimeout %v must be whole seconds from 1s to 12h (set %s, e.g. 30s)",
			ErrInvalidConfig, c.VisibilityTimeout, EnvVisibilityTimeout)
	case !wholeSeconds(c.WaitTime) || c.WaitTime < 0 || c.WaitTime > maxWaitTime:
		return fmt.Errorf("%w: WaitTime %v must be whole seconds from 0 to 20s (set %s, e.g. 2s)",
			ErrInvalidConfig, c.WaitTime, EnvWaitTime)
	case c.MaxAttempts < 1:
		return fmt.Errorf("%w: MaxAttempts %d must be at least 1 (set %s, e.g. 5)", ErrInvalidConfig, c.MaxAttempts, EnvMaxAttempts)
	case c.SendConcurrency < 1:
		return fmt.Errorf("%w: SendConcurrency %d must be at least 1 (set %s, e.g. 16)", ErrInvalidConfig, c.SendConcurrency, EnvSendConcurrency)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: Endpoint %q is not an http(s) URL (set %s like http://127.0.0.1:5000)", ErrInvalidConfig, c.Endpoint, EnvEndpoint)
		}
		if u.User != nil {
			return fmt.Errorf("%w: Endpoint must not carry credentials; use the standard AWS chain", ErrInvalidConfig)
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

// ConfigFromEnv returns [Config.Default] overridden by the BROKERBENCH_SQS_*
// variables (see [EnvVars]) read through getenv, usually os.Getenv. It does
// not validate; [New] does.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{}.Default()
	for _, s := range []struct {
		env string
		dst *string
	}{{EnvName, &c.Name}, {EnvRegion, &c.Region}, {EnvEndpoint, &c.Endpoint}, {EnvQueuePrefix, &c.QueuePrefix}} {
		if v := getenv(s.env); v != "" {
			*s.dst = v
		}
	}
	var err error
	if v := getenv(EnvFIFO); v != "" {
		if c.FIFO, err = strconv.ParseBool(v); err != nil {
			return Config{}, fmt.Errorf("%w: %s=%q is not a bool (use true or false)", ErrInvalidConfig, EnvFIFO, v)
		}
	}
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{{EnvVisibilityTimeout, &c.VisibilityTimeout}, {EnvWaitTime, &c.WaitTime}} {
		if v := getenv(d.env); v != "" {
			if *d.dst, err = time.ParseDuration(v); err != nil {
				return Config{}, fmt.Errorf("%w: %s=%q is not a duration (e.g. 30s)", ErrInvalidConfig, d.env, v)
			}
		}
	}
	for _, n := range []struct {
		env string
		dst *int
	}{{EnvMaxAttempts, &c.MaxAttempts}, {EnvSendConcurrency, &c.SendConcurrency}} {
		if v := getenv(n.env); v != "" {
			if *n.dst, err = strconv.Atoi(v); err != nil {
				return Config{}, fmt.Errorf("%w: %s=%q is not an integer", ErrInvalidConfig, n.env, v)
			}
		}
	}
	return c, nil
}
