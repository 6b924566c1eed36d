package refbroker

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMetadataAcrossVersions(t *testing.T) {
	t.Parallel()
	b := newBroker(t, func(c *Config) { c.NodeID = 3 })
	tp, err := b.topics.create("mdv", 2, nil, false)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	c := dialRaw(t, b)
	for _, v := range []int16{0, 1, 4, 7, 9, 10, 12, 13} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = v
			rt := kmsg.NewMetadataRequestTopic()
			name := "mdv"
			rt.Topic = &name
			missing := "mdv-missing"
			rt2 := kmsg.NewMetadataRequestTopic()
			rt2.Topic = &missing
			req.Topics = []kmsg.MetadataRequestTopic{rt, rt2}
			req.AllowAutoTopicCreation = false
			if v < 4 {
				req.Topics = req.Topics[:1] // v0-3 always auto-create
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(requestFrame(req, int32(v))); err != nil {
				t.Fatalf("write: %v", err)
			}
			corr, body := readResponse(t, c)
			resp := req.ResponseKind().(*kmsg.MetadataResponse)
			if req.IsFlexible() {
				body = body[1:] // response header tags
			}
			if err := resp.ReadFrom(body); err != nil || corr != int32(v) {
				t.Fatalf("decode: %v (corr %d)", err, corr)
			}
			if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 3 || resp.Brokers[0].Port != b.adv.port {
				t.Fatalf("brokers %+v", resp.Brokers)
			}
			got := resp.Topics[0]
			if got.ErrorCode != 0 || *got.Topic != "mdv" || len(got.Partitions) != 2 || got.Partitions[1].Leader != 3 {
				t.Fatalf("topic %+v", got)
			}
			if v >= 10 && got.TopicID != tp.id {
				t.Fatalf("topic ID %x, want %x", got.TopicID, tp.id)
			}
			if v >= 4 && resp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
				t.Fatalf("missing topic: code %d, want UNKNOWN_TOPIC_OR_PARTITION", resp.Topics[1].ErrorCode)
			}
		})
	}
	if b.topics.lookup("mdv-missing") != nil {
		t.Fatal("AllowAutoTopicCreation=false still created the topic")
	}
}
