package refbroker

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestFlushMessagesConfig: flush.messages=1 is accepted per topic (fsync
// every append) and read back, other counts are INVALID_CONFIG, flush.ms
// is read-only, and a topic without the override reports the broker's
// --fsync policy as Kafka spells it (interval: flush.ms = the interval).
func TestFlushMessagesConfig(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	adm := newAdmin(t, b)
	one, five, ms := "1", "5", "10"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"flush.messages": &one}, "flush-sync"); err != nil {
		t.Fatalf("create with flush.messages=1: %v", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "flush-default"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]*string{{"flush.messages": &five}, {"flush.ms": &ms}} {
		resp, err := adm.CreateTopic(ctx, 1, 1, bad, "flush-bad")
		if err == nil {
			err = resp.Err
		}
		if !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("create with %v: err = %v, want INVALID_CONFIG", bad, err)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "flush-sync", "flush-default")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"flush-sync":    {"flush.messages": "1"},
		"flush-default": {"flush.messages": strconv.FormatInt(kafkaLongMax, 10), "flush.ms": "1000"},
	}
	for _, rc := range rcs {
		for name, v := range want[rc.Name] {
			got := "<absent>"
			for _, c := range rc.Configs {
				if c.Key == name {
					got = c.MaybeValue()
				}
			}
			if got != v {
				t.Errorf("%s %s = %s, want %s", rc.Name, name, got, v)
			}
		}
	}
}
