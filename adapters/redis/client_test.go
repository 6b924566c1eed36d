package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// TestClientSettings: the settings reported for a run are the ones the
// sizing code gives producers and consumers, with a reason for each
// default and none for what the workload set.
func TestClientSettings(t *testing.T) {
	t.Parallel()
	r := &Redis{cfg: Config{}.Default()}
	for _, tc := range []struct {
		name   string
		p      adapters.ProducerConfig
		c      adapters.ConsumerConfig
		want   map[string]string // setting -> value substring
		reason map[string]bool   // setting -> has a reason
	}{
		{"defaults", adapters.ProducerConfig{ID: "p", Acks: adapters.AcksAll}, adapters.ConsumerConfig{ID: "c", Partitions: 16},
			map[string]string{"MaxInFlight": "1000", "XREADGROUP COUNT": "500 per partition stream", "XACK": "every 1s",
				"XADD pipeline": "up to 1000", "XADD trimming": "none", "WAIT": "none", "XREADGROUP BLOCK": "500ms"},
			map[string]bool{"MaxInFlight": true, "XREADGROUP COUNT": true, "XACK": true}},
		{"workload set", adapters.ProducerConfig{ID: "p", MaxInFlight: 64}, adapters.ConsumerConfig{ID: "c", Partitions: 4, Prefetch: 64, CommitInterval: 200 * time.Millisecond},
			map[string]string{"MaxInFlight": "64", "XREADGROUP COUNT": "(16 with all 4)", "XACK": "every 200ms", "XADD pipeline": "up to 64"},
			map[string]bool{"MaxInFlight": false, "XREADGROUP COUNT": false, "XACK": false}},
		{"sync commits", adapters.ProducerConfig{}, adapters.ConsumerConfig{ID: "c", Commit: adapters.CommitSync},
			map[string]string{"XACK": "after every batch"}, nil},
		{"auto commits", adapters.ProducerConfig{}, adapters.ConsumerConfig{ID: "c", Commit: adapters.CommitAuto},
			map[string]string{"XACK": "NOACK"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]adapters.ClientSetting{}
			for _, s := range r.ClientSettings(tc.p, tc.c) {
				got[s.Name] = s
			}
			for name, want := range tc.want {
				if s, ok := got[name]; !ok || !strings.Contains(s.Value, want) {
					t.Errorf("%s = %q, want it to contain %q", name, s.Value, want)
				}
			}
			for name, want := range tc.reason {
				if has := got[name].Reason != ""; has != want {
					t.Errorf("%s reason %q: want a reason: %v", name, got[name].Reason, want)
				}
			}
		})
	}
	// A run without consumers (or producers) reports none of their settings.
	for _, s := range r.ClientSettings(adapters.ProducerConfig{ID: "p"}, adapters.ConsumerConfig{}) {
		if strings.HasPrefix(s.Name, "XREADGROUP") || s.Name == "XACK" {
			t.Errorf("produce-only run reports consumer setting %+v", s)
		}
	}
	for _, s := range r.ClientSettings(adapters.ProducerConfig{}, adapters.ConsumerConfig{ID: "c"}) {
		if strings.HasPrefix(s.Name, "XADD") || s.Name == "MaxInFlight" {
			t.Errorf("consume-only run reports producer setting %+v", s)
		}
	}
}

// TestReadCount: COUNT is per stream, DefaultCountPerPartition by
// default, and an explicit Prefetch is split over the owned streams, as
// the consumer recomputes it when its assignment changes.
func TestReadCount(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		prefetch, owned int
		want            int64
	}{
		{0, 1, DefaultCountPerPartition}, {0, 16, DefaultCountPerPartition},
		{100, 1, 100}, {100, 3, 34}, {100, 16, 7}, {4, 16, 1}, {100, 0, 100},
	} {
		if got := (consumerSizing{prefetch: tc.prefetch}).count(tc.owned); got != tc.want {
			t.Errorf("Prefetch %d, %d owned: COUNT %d, want %d", tc.prefetch, tc.owned, got, tc.want)
		}
	}
	r := &Redis{cfg: Config{}.Default()}
	c := newConsumerState(r, adapters.ConsumerConfig{Topic: "t", Prefetch: 100}, 8)
	c.owned = []int{1, 5}
	c.setOwnKeys()
	if c.count != 50 {
		t.Errorf("consumer owning 2 of 8 partitions with Prefetch 100: COUNT %d, want 50", c.count)
	}
}

// TestTrimming: Config.MaxLen trims each partition stream with MAXLEN ~
// (whole radix-tree nodes, so a little above the bound), and a topic
// with a workload retention and MaxAge is refused.
func TestTrimming(t *testing.T) {
	t.Parallel()
	adaptertest.RequireService(t, "redis", redisAddr)
	cfg := Config{}.Default()
	cfg.Addrs, cfg.MaxLen = []string{redisAddr}, 100
	r, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	topic := newTopic(t, r, adapters.TopicSpec{Partitions: 1})
	p := adaptertest.NewProducer(t, r, adapters.ProducerConfig{ID: "trim", Acks: adapters.AcksLeader})
	for range 1000 {
		p.Send(t.Context(), &adapters.Message{Topic: topic, Partition: 0, Value: []byte("v")}, nil)
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	n, err := r.admin.XLen(t.Context(), r.layout.stream(topic, 0)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 || n > 300 {
		t.Errorf("XLEN %d after 1000 sends with MaxLen 100, want about 100 (MAXLEN ~)", n)
	}

	cfg.MaxLen, cfg.MaxAge = 0, time.Minute
	r2, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r2.Close() })
	err = r2.CreateTopic(context.Background(), adapters.TopicSpec{Name: "bbtest-redis-trim-" + adaptertest.Suffix(), Partitions: 1, RetentionBytes: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "MaxAge") {
		t.Errorf("retention with MaxAge: %v, want an error naming MaxAge", err)
	}
}
