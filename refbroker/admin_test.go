package refbroker

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestListOffsets(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	adm := newAdmin(t, b)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "lo"); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	// Three separate batches with increasing timestamps.
	prod := newClient(t, b, kgo.DefaultProduceTopic("lo"))
	base := time.UnixMilli(1_700_000_000_000)
	for i := range 3 {
		r := &kgo.Record{Value: []byte("x"), Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	tests := []struct {
		name string
		list func() (kadm.ListedOffsets, error)
		want int64
	}{
		{"earliest", func() (kadm.ListedOffsets, error) { return adm.ListStartOffsets(ctx, "lo") }, 0},
		{"latest", func() (kadm.ListedOffsets, error) { return adm.ListEndOffsets(ctx, "lo") }, 3},
		{"timestamp of the second batch", func() (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, base.Add(time.Minute).UnixMilli(), "lo")
		}, 1},
		{"timestamp between batches", func() (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, base.Add(90*time.Second).UnixMilli(), "lo")
		}, 2},
		{"timestamp after the last batch", func() (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), "lo")
		}, 3}, // kadm maps "none" (-1) to the end offset
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listed, err := tt.list()
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			o, ok := listed.Lookup("lo", 0)
			if !ok || o.Err != nil {
				t.Fatalf("lookup: ok=%v err=%v", ok, o.Err)
			}
			if o.Offset != tt.want {
				t.Fatalf("offset = %d, want %d", o.Offset, tt.want)
			}
		})
	}
}

func TestTopicAdmin(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	adm := newAdmin(t, b)
	retention := "3600000"
	bogus := "1"
	compact := "compact"
	tests := []struct {
		name    string
		run     func() error
		wantErr error
	}{
		{"create", func() error {
			_, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": &retention}, "admin-a")
			return err
		}, nil},
		{"create existing", func() error { _, err := adm.CreateTopic(ctx, 2, 1, nil, "admin-a"); return err }, kerr.TopicAlreadyExists},
		{"bad name", func() error { _, err := adm.CreateTopic(ctx, 1, 1, nil, "bad/name"); return err }, kerr.InvalidTopicException},
		{"replication factor 3", func() error { _, err := adm.CreateTopic(ctx, 1, 3, nil, "admin-rf"); return err }, kerr.InvalidReplicationFactor},
		{"zero partitions", func() error { _, err := adm.CreateTopic(ctx, 0, 1, nil, "admin-zero"); return err }, kerr.InvalidPartitions},
		{"unsupported config", func() error {
			_, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"min.insync.replicas": &bogus}, "admin-cfg")
			return err
		}, kerr.InvalidConfig},
		{"compaction", func() error {
			_, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &compact}, "admin-compact")
			return err
		}, kerr.InvalidConfig},
		{"validate only creates nothing", func() error {
			resp, err := adm.ValidateCreateTopics(ctx, 1, 1, nil, "admin-validate")
			if err == nil {
				err = resp.Error()
			}
			if b.topics.lookup("admin-validate") != nil {
				return errors.New("validate-only created the topic")
			}
			return err
		}, nil},
		{"grow partitions", func() error {
			resp, err := adm.UpdatePartitions(ctx, 5, "admin-a")
			if err == nil {
				err = resp.Error()
			}
			if tp := b.topics.lookup("admin-a"); err == nil && len(tp.parts) != 5 {
				return errors.New("topic did not grow to 5 partitions")
			}
			return err
		}, nil},
		{"shrink partitions", func() error {
			resp, err := adm.UpdatePartitions(ctx, 2, "admin-a")
			if err == nil {
				err = resp.Error()
			}
			return err
		}, kerr.InvalidPartitions},
		{"grow unknown topic", func() error {
			resp, err := adm.UpdatePartitions(ctx, 2, "admin-missing")
			if err == nil {
				err = resp.Error()
			}
			return err
		}, kerr.UnknownTopicOrPartition},
		{"delete by name", func() error {
			resp, err := adm.DeleteTopics(ctx, "admin-a")
			if err == nil {
				err = resp.Error()
			}
			return err
		}, nil},
		{"delete unknown name", func() error {
			resp, err := adm.DeleteTopics(ctx, "admin-a")
			if err == nil {
				err = resp.Error()
			}
			return err
		}, kerr.UnknownTopicOrPartition},
	}
	for _, tt := range tests { // sequential: later rows depend on earlier ones
		err := tt.run()
		if tt.wantErr == nil && err != nil {
			t.Errorf("%s: unexpected error %v", tt.name, err)
		} else if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestDeleteTopicByID(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b)
	created, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "by-id")
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	deleteByID := func() int16 {
		t.Helper()
		req := kmsg.NewPtrDeleteTopicsRequest()
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = created.ID
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("DeleteTopics: %v", err)
		}
		if resp.Version < 6 || len(resp.Topics) != 1 {
			t.Fatalf("DeleteTopics v%d answered %d topics", resp.Version, len(resp.Topics))
		}
		return resp.Topics[0].ErrorCode
	}
	if code := deleteByID(); code != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(code))
	}
	if b.topics.lookup("by-id") != nil {
		t.Fatal("topic still exists")
	}
	if code := deleteByID(); code != kerr.UnknownTopicID.Code {
		t.Fatalf("second delete: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(code))
	}
}

func TestDescribeTopicConfigs(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	adm := newAdmin(t, b)
	retention := "7200000"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": &retention}, "cfgs"); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "cfgs")
	if err != nil {
		t.Fatalf("DescribeTopicConfigs: %v", err)
	}
	rc, err := rcs.On("cfgs", nil)
	if err != nil {
		t.Fatalf("On: %v", err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" {
			found = true
			if c.MaybeValue() != retention || c.Source != 1 {
				t.Fatalf("retention.ms = %q (source %v), want %q from the topic", c.MaybeValue(), c.Source, retention)
			}
		}
	}
	if !found {
		t.Fatal("retention.ms not described")
	}
}

func TestAutoCreateTopics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		auto       *bool
		wantExists bool
	}{
		{"default on", nil, true},
		{"explicitly on", BoolPtr(true), true},
		{"off", BoolPtr(false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBroker(t, func(c *Config) { c.AutoCreateTopics = tt.auto; c.DefaultPartitions = 3 })
			ctx := testCtx(t, 30*time.Second)
			cl := newClient(t, b, kgo.AllowAutoTopicCreation())
			md, err := kadm.NewClient(cl).Metadata(ctx, "auto")
			if err != nil {
				t.Fatalf("Metadata: %v", err)
			}
			td := md.Topics["auto"]
			tp := b.topics.lookup("auto")
			if got := tp != nil; got != tt.wantExists {
				t.Fatalf("topic exists = %v, want %v (metadata err %v)", got, tt.wantExists, td.Err)
			}
			if tt.wantExists && (td.Err != nil || len(td.Partitions) != 3) {
				t.Fatalf("metadata: err %v, %d partitions, want 3", td.Err, len(td.Partitions))
			}
			if !tt.wantExists && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
				t.Fatalf("metadata err = %v, want UNKNOWN_TOPIC_OR_PARTITION", td.Err)
			}
		})
	}
}

// TestTopicNamesCollidingOnDotUnderscore: Kafka refuses a topic whose name
// differs from an existing one only by '.' against '_'.
func TestTopicNamesCollidingOnDotUnderscore(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	adm := newAdmin(t, b)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "a.b"); err != nil {
		t.Fatalf("create a.b: %v", err)
	}
	for _, name := range []string{"a_b", "a.b"} {
		resp, _ := adm.CreateTopic(ctx, 1, 1, nil, name)
		want := kerr.InvalidTopicException
		if name == "a.b" {
			want = kerr.TopicAlreadyExists
		}
		if !errors.Is(resp.Err, want) {
			t.Errorf("create %s: %v, want %v", name, resp.Err, want)
		}
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "a-b"); err != nil {
		t.Errorf("create a-b (no collision): %v", err)
	}
}

// TestOffsetCommitUnknownPartition: commits to a topic or partition that
// does not exist are refused per partition; the rest are stored.
func TestOffsetCommitUnknownPartition(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	adm := newAdmin(t, b)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "known"); err != nil {
		t.Fatalf("create: %v", err)
	}
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "known", Partition: 0, At: 1, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: "known", Partition: 1, At: 1, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: "missing", Partition: 0, At: 1, LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(ctx, "g", os)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	for _, tt := range []struct {
		topic string
		part  int32
		want  error
	}{{"known", 0, nil}, {"known", 1, kerr.UnknownTopicOrPartition}, {"missing", 0, kerr.UnknownTopicOrPartition}} {
		r, ok := resp.Lookup(tt.topic, tt.part)
		if !ok || !errors.Is(r.Err, tt.want) || (tt.want == nil && r.Err != nil) {
			t.Errorf("commit %s/%d: %v (found %v), want %v", tt.topic, tt.part, r.Err, ok, tt.want)
		}
	}
	fetched, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if _, ok := fetched.Lookup("missing", 0); ok {
		t.Errorf("the refused commit was stored")
	}
}
