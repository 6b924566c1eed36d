package refbroker

import (
	"errors"
	"testing"
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
