package e2e_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/refbroker"
)

// diffTarget is one Kafka implementation the differential scenario runs
// against: start returns a seed address. Both start with topic
// auto-creation off (kfake's default) and one broker.
type diffTarget struct {
	name  string
	start func(t *testing.T) string
}

func diffTargets() []diffTarget {
	return []diffTarget{
		{"refbroker", func(t *testing.T) string {
			cfg := refbrokerConfig(t)
			cfg.AutoCreateTopics = refbroker.BoolPtr(false)
			return newRefbroker(t, cfg).Addr()
		}},
		{"kfake", func(t *testing.T) string {
			return newKfake(t).ListenAddrs()[0]
		}},
	}
}

// listedOffset is the comparable part of a kadm.ListedOffset (the leader
// epoch is an implementation detail).
type listedOffset struct {
	Offset, Timestamp int64
	Err               string
}

// groupView is the comparable part of a described group.
type groupView struct {
	State, ProtocolType, Protocol, Err string
	Members                            int
}

// diffResult is everything the scenario observes; each field is compared
// between implementations.
type diffResult struct {
	CreateTopic          string
	CreateExistingTopic  string
	ProducedAt           map[string]string // value -> "partition/offset"
	StartOffsets         map[int32]listedOffset
	EndOffsets           map[int32]listedOffset
	OffsetsAfterMilli    map[int32]listedOffset
	OffsetsAfterEnd      map[int32]listedOffset
	ConsumedByGroup      map[int32][]string
	FetchOutOfRange      string
	CommittedOffsets     map[int32]int64
	GroupWhileActive     groupView
	DeleteActiveGroup    string
	ListGroupsActive     []string
	GroupAfterLeave      groupView
	DeleteEmptyGroup     string
	GroupAfterDelete     groupView
	ManualCommit         string
	ManualFetch          map[int32]int64
	CommitUnknownTopic   string
	DeleteUnknownTopic   string
	MetadataUnknownTopic string
	ProduceUnknownTopic  string
}

// TestDifferentialKfake runs one produce/consume/group/admin scenario
// against refbroker and against kfake and requires the same observable
// results: record placement and offsets, listed offsets, consumed records,
// committed offsets, group states and error codes. Ids, hosts and timings
// are not compared.
func TestDifferentialKfake(t *testing.T) {
	t.Parallel()
	// One base time for both runs, so timestamp lookups are comparable;
	// it is "now" because kfake applies a 7-day retention.
	t0 := time.Now().Truncate(time.Second)
	results := make(map[string]diffResult)
	for _, tgt := range diffTargets() {
		t.Run(tgt.name, func(t *testing.T) {
			results[tgt.name] = runDiffScenario(t, tgt.start(t), t0)
		})
	}
	ref, fake := results["refbroker"], results["kfake"]
	if t.Failed() {
		return
	}
	rv, fv := reflect.ValueOf(ref), reflect.ValueOf(fake)
	for i := range rv.NumField() {
		name := rv.Type().Field(i).Name
		a, b := rv.Field(i).Interface(), fv.Field(i).Interface()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differs:\n  refbroker: %s\n  kfake:     %s", name, clip(fmt.Sprintf("%+v", a)), clip(fmt.Sprintf("%+v", b)))
			continue
		}
		t.Logf("%s: same (%s)", name, clip(fmt.Sprintf("%+v", a)))
	}
}

// clip shortens a long rendering for an error message.
func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func runDiffScenario(t *testing.T, addr string, t0 time.Time) diffResult {
	const topic, group, parts, n = "diff", "dg", 4, 200
	ctx := testCtx(t, 60*time.Second)
	adm := newAdmin(t, addr)
	var res diffResult

	created, err := adm.CreateTopic(ctx, parts, 1, nil, topic)
	res.CreateTopic = errCode(firstErr(err, created.Err))
	created, err = adm.CreateTopic(ctx, parts, 1, nil, topic)
	res.CreateExistingTopic = errCode(firstErr(err, created.Err))

	// Keyed records with kgo's default partitioner (murmur2 on the key,
	// as the Java client): placement must match.
	res.ProducedAt = make(map[string]string, n)
	prod := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%37), Value: fmt.Appendf(nil, "v%03d", i), Timestamp: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	// One record at a time so that offsets follow i within a partition.
	for _, r := range recs {
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", r.Value, err)
		}
		res.ProducedAt[string(r.Value)] = fmt.Sprintf("%d/%d", r.Partition, r.Offset)
	}

	res.StartOffsets = listed(adm.ListStartOffsets(ctx, topic))
	res.EndOffsets = listed(adm.ListEndOffsets(ctx, topic))
	res.OffsetsAfterMilli = listed(adm.ListOffsetsAfterMilli(ctx, t0.Add(100*time.Millisecond).UnixMilli(), topic))
	res.OffsetsAfterEnd = listed(adm.ListOffsetsAfterMilli(ctx, t0.Add(time.Hour).UnixMilli(), topic))

	res.ConsumedByGroup, res.CommittedOffsets = consumeAndCommit(t, ctx, addr, adm, topic, group, n, &res)
	res.FetchOutOfRange = fetchOutOfRange(t, ctx, addr, topic)

	res.GroupAfterLeave = describe(ctx, adm, group)
	deleted, err := adm.DeleteGroups(ctx, group)
	res.DeleteEmptyGroup = errCode(firstErr(err, deleted[group].Err))
	res.GroupAfterDelete = describe(ctx, adm, group)

	manual := kadm.Offsets{}
	manual.AddOffset(topic, 1, 3, -1)
	committed, err := adm.CommitOffsets(ctx, "manual", manual)
	res.ManualCommit = errCode(firstErr(err, committed.Error()))
	res.ManualFetch = committedOffsets(ctx, adm, "manual", topic)
	unknown := kadm.Offsets{}
	unknown.AddOffset("no-such-topic", 0, 1, -1)
	committed, err = adm.CommitOffsets(ctx, "manual", unknown)
	res.CommitUnknownTopic = errCode(firstErr(err, committed.Error()))

	dt, err := adm.DeleteTopics(ctx, "no-such-topic")
	res.DeleteUnknownTopic = errCode(firstErr(err, dt["no-such-topic"].Err))
	md, err := adm.Metadata(ctx, "no-such-topic")
	res.MetadataUnknownTopic = errCode(firstErr(err, md.Topics["no-such-topic"].Err))

	// With auto-creation off, producing to an unknown topic fails with
	// UNKNOWN_TOPIC_OR_PARTITION once kgo's unknown-topic retries run out.
	pu := newClient(t, addr, kgo.UnknownTopicRetries(2))
	res.ProduceUnknownTopic = errCode(pu.ProduceSync(ctx, &kgo.Record{Topic: "no-such-topic", Value: []byte("x")}).FirstErr())
	return res
}

// consumeAndCommit consumes all n records with one group member, commits
// them, and, while the member is still in the group, records the group
// description, a DeleteGroups attempt and ListGroups into res.
func consumeAndCommit(t *testing.T, ctx context.Context, addr string, adm *kadm.Client, topic, group string, n int, res *diffResult) (map[int32][]string, map[int32]int64) {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond))
	consumed := make(map[int32][]string)
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("group poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			consumed[r.Partition] = append(consumed[r.Partition], string(r.Value))
			got++
		})
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	committed := committedOffsets(ctx, adm, group, topic)
	res.GroupWhileActive = describe(ctx, adm, group)
	deleted, err := adm.DeleteGroups(ctx, group)
	res.DeleteActiveGroup = errCode(firstErr(err, deleted[group].Err))
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	for _, g := range lg {
		res.ListGroupsActive = append(res.ListGroupsActive, g.Group+"/"+g.ProtocolType+"/"+g.State)
	}
	slices.Sort(res.ListGroupsActive)
	cl.Close() // LeaveGroup: the group becomes Empty
	return consumed, committed
}

// fetchOutOfRange consumes partition 0 of topic from an offset far past
// its end with no reset policy, so kgo surfaces the broker's error
// (OFFSET_OUT_OF_RANGE from Kafka) instead of resetting.
func fetchOutOfRange(t *testing.T, ctx context.Context, addr, topic string) string {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(1_000_000)}}),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()), kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return errCode(err)
		}
		if ctx.Err() != nil {
			return "no error before the deadline"
		}
		if fs.NumRecords() > 0 {
			return "records returned"
		}
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func listed(l kadm.ListedOffsets, err error) map[int32]listedOffset {
	out := make(map[int32]listedOffset)
	if err != nil {
		out[-1] = listedOffset{Err: errCode(err)}
		return out
	}
	l.Each(func(o kadm.ListedOffset) {
		out[o.Partition] = listedOffset{Offset: o.Offset, Timestamp: o.Timestamp, Err: errCode(o.Err)}
	})
	return out
}

func describe(ctx context.Context, adm *kadm.Client, group string) groupView {
	d, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return groupView{Err: errCode(err)}
	}
	g := d[group]
	return groupView{State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol, Members: len(g.Members), Err: errCode(g.Err)}
}

func committedOffsets(ctx context.Context, adm *kadm.Client, group, topic string) map[int32]int64 {
	out := make(map[int32]int64)
	resps, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		out[-1] = -1 // the request itself failed
		return out
	}
	for p, r := range resps[topic] {
		if r.Err != nil {
			out[p] = -2
			continue
		}
		out[p] = r.At
	}
	return out
}
