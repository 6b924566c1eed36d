package refbroker

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// Topic config names refbroker understands. Any other name in CreateTopics
// is rejected with INVALID_CONFIG rather than silently ignored, so a
// benchmark never believes a setting took effect when it did not.
const (
	cfgRetentionMs     = "retention.ms"
	cfgRetentionBytes  = "retention.bytes"
	cfgSegmentBytes    = "segment.bytes"
	cfgCleanupPolicy   = "cleanup.policy"
	cfgMaxMessageBytes = "max.message.bytes"
	// cfgFlushMessages is Kafka's per-topic fsync policy: 1 syncs every
	// append before it is acknowledged (storage.FsyncAlways); Kafka's
	// default, Long.MAX_VALUE, leaves it to the broker's --fsync policy.
	// Other counts are rejected: refbroker syncs per append or on a timer,
	// never every N messages.
	cfgFlushMessages = "flush.messages"
	// cfgFlushMs is reported only (read-only): the broker's --fsync
	// policy as Kafka's flush.ms spells it.
	cfgFlushMs = "flush.ms"
)

// kafkaLongMax is Long.MAX_VALUE, Kafka's "never" for flush.messages and
// flush.ms.
const kafkaLongMax = math.MaxInt64

// topicConfigNames lists the supported topic configs in DescribeConfigs
// order.
var topicConfigNames = []string{cfgCleanupPolicy, cfgFlushMessages, cfgFlushMs, cfgMaxMessageBytes, cfgRetentionBytes, cfgRetentionMs, cfgSegmentBytes}

// validateTopicName applies Kafka's topic name rules: 1 to 249 bytes of
// [a-zA-Z0-9._-], and not "." or "..".
func validateTopicName(name string) error {
	if name == "" || len(name) > 249 || name == "." || name == ".." {
		return fmt.Errorf("%w: %q must be 1 to 249 characters and not \".\" or \"..\"", errInvalidTopicName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has character %q outside [a-zA-Z0-9._-]", errInvalidTopicName, name, c)
		}
	}
	return nil
}

// topicStorageConfig applies per-topic overrides to the broker's base
// storage config and validates the result. It is the single place that
// decides which topic configs are accepted.
func topicStorageConfig(base storage.Config, configs map[string]string) (storage.Config, error) {
	cfg := base
	for name, v := range configs {
		switch name {
		case cfgRetentionMs:
			ms, err := parseConfigInt(name, v, -1)
			if err != nil {
				return cfg, err
			}
			// -1 (infinite) means unlimited (0), and so does anything too
			// long for a time.Duration (about 292 years): multiplying it
			// would wrap, and a wrapped retention deletes everything.
			if ms < 0 || ms > math.MaxInt64/int64(time.Millisecond) {
				ms = 0
			}
			cfg.Retention = time.Duration(ms) * time.Millisecond
		case cfgRetentionBytes:
			n, err := parseConfigInt(name, v, -1)
			if err != nil {
				return cfg, err
			}
			cfg.RetentionBytes = max(n, 0)
		case cfgSegmentBytes:
			n, err := parseConfigInt(name, v, storage.MinSegmentBytes)
			if err != nil {
				return cfg, err
			}
			cfg.SegmentBytes = n
		case cfgMaxMessageBytes:
			n, err := parseConfigInt(name, v, storage.MinSegmentBytes)
			if err != nil {
				return cfg, err
			}
			cfg.MaxMessageBytes = n
		case cfgFlushMessages:
			switch v {
			case "1":
				cfg.Fsync = storage.FsyncAlways
			case strconv.FormatInt(kafkaLongMax, 10):
				cfg.Fsync = base.Fsync
			default:
				return cfg, fmt.Errorf("%w: %s=%q: refbroker supports 1 (fsync every append before its ack) or %d (the broker's --fsync policy)", errInvalidTopicConfig, name, v, int64(kafkaLongMax))
			}
		case cfgFlushMs:
			return cfg, fmt.Errorf("%w: %s is read-only on refbroker: it reports the broker's --fsync policy; set flush.messages=1 to sync every append", errInvalidTopicConfig, name)
		case cfgCleanupPolicy:
			if v != "delete" {
				return cfg, fmt.Errorf("%w: %s=%q: only \"delete\" is supported (no compaction)", errInvalidTopicConfig, name, v)
			}
		default:
			return cfg, fmt.Errorf("%w: %q is not supported; supported: %v", errInvalidTopicConfig, name, topicConfigNames)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %v", errInvalidTopicConfig, err)
	}
	return cfg, nil
}

// parseConfigInt parses an integer config value no smaller than minimum.
func parseConfigInt(name, v string, minimum int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < minimum {
		return 0, fmt.Errorf("%w: %s=%q must be an integer >= %d", errInvalidTopicConfig, name, v, minimum)
	}
	return n, nil
}

// topicConfigValue is one config as DescribeConfigs and CreateTopics v5+
// report it.
type topicConfigValue struct {
	name      string
	value     string
	isDefault bool // taken from the broker config, not a topic override
}

// effectiveTopicConfigs returns every supported config of a topic with its
// value: the override if set, else the broker-wide default from base.
func effectiveTopicConfigs(base storage.Config, overrides map[string]string) []topicConfigValue {
	defaults := map[string]string{
		cfgCleanupPolicy:   "delete",
		cfgRetentionBytes:  strconv.FormatInt(unlimitedAsMinusOne(base.RetentionBytes), 10),
		cfgRetentionMs:     strconv.FormatInt(unlimitedAsMinusOne(base.Retention.Milliseconds()), 10),
		cfgSegmentBytes:    strconv.FormatInt(base.SegmentBytes, 10),
		cfgMaxMessageBytes: strconv.FormatInt(base.MaxMessageBytes, 10),
		cfgFlushMessages:   strconv.FormatInt(kafkaLongMax, 10),
		cfgFlushMs:         strconv.FormatInt(kafkaLongMax, 10),
	}
	switch base.Fsync {
	case storage.FsyncAlways:
		defaults[cfgFlushMessages] = "1"
	case storage.FsyncInterval:
		defaults[cfgFlushMs] = strconv.FormatInt(base.FsyncInterval.Milliseconds(), 10)
	}
	out := make([]topicConfigValue, 0, len(topicConfigNames))
	for _, name := range topicConfigNames {
		if v, ok := overrides[name]; ok {
			out = append(out, topicConfigValue{name: name, value: v})
			continue
		}
		out = append(out, topicConfigValue{name: name, value: defaults[name], isDefault: true})
	}
	return out
}

// unlimitedAsMinusOne renders storage's "<= 0 is unlimited" the way Kafka
// spells unlimited retention: -1.
func unlimitedAsMinusOne(v int64) int64 {
	if v <= 0 {
		return -1
	}
	return v
}
