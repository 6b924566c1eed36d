package refbroker

import (
	"errors"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"no data dir", func(c *Config) { c.DataDir = "" }, false},
		{"negative partitions", func(c *Config) { c.DefaultPartitions = -1 }, false},
		{"partitions above the per-topic cap", func(c *Config) { c.MaxPartitionsPerTopic = 4; c.DefaultPartitions = 5 }, false},
		{"tiny max request", func(c *Config) { c.MaxRequestBytes = 10 }, false},
		{"bad listen", func(c *Config) { c.Listen = "nonsense" }, false},
		{"advertise without port", func(c *Config) { c.Advertise = "localhost" }, false},
		{"advertise port 0", func(c *Config) { c.Advertise = "localhost:0" }, false},
		{"advertise ok", func(c *Config) { c.Advertise = "broker.example:19092" }, true},
		{"negative node", func(c *Config) { c.NodeID = -1 }, false},
		{"bad storage", func(c *Config) { c.Storage.SegmentBytes = 10 }, false},
		{"auto-create off", func(c *Config) { c.AutoCreateTopics = BoolPtr(false) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{DataDir: "/tmp/x"}
			tt.edit(&cfg)
			err := cfg.Default().Validate()
			if tt.ok && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v, want ErrInvalidConfig", err)
			}
		})
	}
	if d := (Config{}).Default(); !*d.AutoCreateTopics || d.DefaultPartitions != 1 || d.Listen != DefaultListen || d.MaxRequestBytes != DefaultMaxRequestBytes {
		t.Fatalf("unexpected defaults %+v", d)
	}
}

// TestTopicRetentionMs checks retention.ms conversions at the edges: Kafka
// accepts any long, and a value too large for a time.Duration must mean
// "keep forever", not wrap into a tiny retention that deletes everything.
func TestTopicRetentionMs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ms   string
		want time.Duration
	}{
		{"-1", 0},              // Kafka's infinite
		{"60000", time.Minute}, // ordinary
		{"9223372036854", 9223372036854 * time.Millisecond}, // the largest that fits
		{"18446744073710", 0},                               // would wrap to 448us
		{"9223372036854775807", 0},                          // Long.MAX
	}
	for _, tt := range tests {
		cfg, err := topicStorageConfig(storage.Config{}, map[string]string{"retention.ms": tt.ms})
		if err != nil {
			t.Errorf("retention.ms=%s: %v", tt.ms, err)
			continue
		}
		if cfg.Retention != tt.want {
			t.Errorf("retention.ms=%s: retention %v, want %v", tt.ms, cfg.Retention, tt.want)
		}
	}
}
