package sqs

import (
	"context"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
)

// TestDurability: Amazon's endpoints are replicated by SQS's design; any
// other endpoint (moto, goaws, a proxy) is reported as unknown, never
// assumed.
func TestDurability(t *testing.T) {
	for _, tc := range []struct {
		endpoint, region string
		want             adapters.Durability
	}{
		{"", "eu-west-1", adapters.DurabilityReplicated},
		{"https://sqs.us-east-1.amazonaws.com", "us-east-1", adapters.DurabilityReplicated},
		{"https://vpce-0a1b-abc.sqs.us-east-1.vpce.amazonaws.com", "us-east-1", adapters.DurabilityReplicated},
		{"https://sqs.us-east-1.api.aws", "us-east-1", adapters.DurabilityReplicated},
		{"http://127.0.0.1:5000", "us-east-1", ""},
		{"http://amazonaws.com.evil.example:80", "us-east-1", ""},
	} {
		s := &SQS{cfg: Config{Endpoint: tc.endpoint}, region: tc.region}
		got, err := s.Durability(context.Background(), "t", adapters.AcksAll)
		if err != nil || got.Effective != tc.want || len(got.Evidence) == 0 {
			t.Errorf("%q: %+v, %v; want effective %q with evidence", tc.endpoint, got, err, tc.want)
		}
	}
}

// TestClientSettings: the sizes reported are those the producer and
// consumer use (prefetch below SQS's limit shrinks a receive).
func TestClientSettings(t *testing.T) {
	s := &SQS{cfg: Config{}.Default(), region: "us-east-1"}
	got := s.ClientSettings(adapters.ProducerConfig{ID: "p"}, adapters.ConsumerConfig{ID: "c", Prefetch: 4, SessionTimeout: 7e9})
	want := map[string]string{
		"SendMessageBatch":     "up to 10 entries per queue, 16 requests at once",
		"max unfinished sends": "1000",
		"ReceiveMessage":       "up to 4 messages, long poll 2s",
		"visibility timeout":   "7s",
	}
	for _, g := range got {
		if w, ok := want[g.Name]; ok {
			if g.Value != w {
				t.Errorf("%s = %q, want %q", g.Name, g.Value, w)
			}
			delete(want, g.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing %v in %+v", want, got)
	}
}
