// Package refbrokertest holds test-only tools for refbroker. Its main type
// is [Injector], which plants one deliberate broker bug through
// refbroker.Config.Intercept, the broker's single interception point at
// dispatch: an acknowledged batch lost, a batch stored twice, batches
// served out of order, a stale committed offset. Tests use it to prove
// that the runner and the history checker catch a broker that breaks its
// promises (cmd/brokerbench's TestPlantedBugsCaughtByName).
//
// Nothing in refbroker or brokerbench's production code imports this
// package, and Config.Intercept is a function that no flag, environment
// variable or file can set, so a faulty broker can only be built by a Go
// program (a test) on purpose. It lives outside refbroker/internal so that
// tests elsewhere in the module (cmd/brokerbench) can use it, and inside
// refbroker/ because it depends on nothing else in the repository.
package refbrokertest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker"
	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// Fault is the bug an Injector plants.
type Fault int

const (
	// None plants nothing: the control case.
	None Fault = iota
	// LoseAcked acknowledges a produced partition's batch without storing
	// it, at the partition's high watermark: the next batch stored takes
	// that offset.
	LoseAcked
	// Duplicate stores a produced partition's batch twice; the copy has
	// its producer ID cleared so that idempotence cannot drop it.
	Duplicate
	// Reorder serves the first two batches of a partition's fetch
	// response swapped.
	Reorder
	// StaleOffset answers OffsetFetch with every committed offset moved
	// back by Plan.StaleBy, so a group re-reads what it already processed.
	StaleOffset
)

// String returns the fault's name, for test names and messages.
func (f Fault) String() string {
	switch f {
	case None:
		return "none"
	case LoseAcked:
		return "lose-acked"
	case Duplicate:
		return "duplicate"
	case Reorder:
		return "reorder"
	case StaleOffset:
		return "stale-offset"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Plan says which bug to plant and how often.
type Plan struct {
	Fault Fault
	// Every acts on every Nth produced partition (LoseAcked, Duplicate)
	// or fetched partition holding two batches or more (Reorder).
	// Default 50.
	Every int64
	// StaleBy is how far back StaleOffset moves committed offsets
	// (default 10); offsets never go below 0.
	StaleBy int64
}

// Injector plants one bug. Its Intercept method is a
// refbroker.Interceptor; it is safe for concurrent use.
type Injector struct {
	plan Plan
	n    atomic.Int64 // candidates seen, for Every
	hits atomic.Int64
}

// New returns an Injector for p.
func New(p Plan) *Injector {
	if p.Every <= 0 {
		p.Every = 50
	}
	if p.StaleBy <= 0 {
		p.StaleBy = 10
	}
	return &Injector{plan: p}
}

var _ refbroker.Interceptor = (*Injector)(nil).Intercept

// Start starts a refbroker on an ephemeral loopback port, storing its data
// in dataDir, with the bug planted; its logs are discarded (Start's
// warning about the interceptor among them). Close it when done.
func (i *Injector) Start(ctx context.Context, dataDir string) (*refbroker.Broker, error) {
	cfg := refbroker.Config{Listen: "127.0.0.1:0", DataDir: dataDir, Intercept: i.Intercept,
		Logger: slog.New(slog.DiscardHandler)}
	cfg.Storage.SegmentBytes = 1 << 20 // segments are preallocated; keep test topics small
	return refbroker.Start(ctx, cfg)
}

// Hits is how many times the bug was planted.
func (i *Injector) Hits() int64 { return i.hits.Load() }

// due counts one candidate and reports whether the bug strikes it; the
// caller counts a hit once it has planted the bug.
func (i *Injector) due() bool { return i.n.Add(1)%i.plan.Every == 0 }

// Intercept serves req through serve, misbehaving as the plan says.
// Pass it as refbroker.Config.Intercept.
func (i *Injector) Intercept(ctx context.Context, req kmsg.Request, serve refbroker.ServeFunc) (kmsg.Response, error) {
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		switch i.plan.Fault {
		case LoseAcked:
			return i.loseAcked(ctx, r, serve)
		case Duplicate:
			return serve(ctx, i.duplicate(r))
		}
	case *kmsg.FetchRequest:
		if i.plan.Fault == Reorder {
			return rewrite(ctx, r, serve, i.reorder)
		}
	case *kmsg.OffsetFetchRequest:
		if i.plan.Fault == StaleOffset {
			return rewrite(ctx, r, serve, i.stale)
		}
	}
	return serve(ctx, req)
}

// rewrite serves req and lets fix change the response before it is sent.
func rewrite[R kmsg.Response](ctx context.Context, req kmsg.Request, serve refbroker.ServeFunc, fix func(R)) (kmsg.Response, error) {
	resp, err := serve(ctx, req)
	if r, ok := resp.(R); ok {
		fix(r)
	}
	return resp, err
}

// lost is a produce partition acknowledged without being stored, at the
// offset the next batch will take.
type lost struct {
	topic     string
	topicID   [16]byte
	partition int32
	offset    int64
}

// loseAcked serves req without the partitions due to be lost, then
// acknowledges those at their high watermark as if they were stored. A
// partition whose high watermark cannot be read (an unknown topic) is
// served normally.
func (i *Injector) loseAcked(ctx context.Context, req *kmsg.ProduceRequest, serve refbroker.ServeFunc) (kmsg.Response, error) {
	var gone []lost
	kept := *req
	kept.Topics = nil
	for _, rt := range req.Topics {
		kt := rt
		kt.Partitions = nil
		for _, rp := range rt.Partitions {
			if i.due() {
				if hw, err := highWatermark(ctx, serve, rt.Topic, rt.TopicID, rp.Partition); err == nil {
					gone = append(gone, lost{rt.Topic, rt.TopicID, rp.Partition, hw})
					continue
				}
			}
			kt.Partitions = append(kt.Partitions, rp)
		}
		if len(kt.Partitions) > 0 {
			kept.Topics = append(kept.Topics, kt)
		}
	}
	if len(gone) == 0 {
		return serve(ctx, req)
	}
	i.hits.Add(int64(len(gone)))
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	if len(kept.Topics) > 0 {
		r, err := serve(ctx, &kept)
		if err != nil || r == nil { // r is nil for acks=0 when every kept partition was stored
			return r, err
		}
		resp = r.(*kmsg.ProduceResponse)
	}
	for _, g := range gone {
		sp := kmsg.NewProduceResponseTopicPartition()
		sp.Partition, sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = g.partition, g.offset, -1, -1
		st := responseTopic(resp, g)
		st.Partitions = append(st.Partitions, sp)
	}
	if req.Acks == 0 {
		return nil, nil
	}
	return resp, nil
}

// responseTopic returns resp's entry for g's topic, adding it if missing.
func responseTopic(resp *kmsg.ProduceResponse, g lost) *kmsg.ProduceResponseTopic {
	for j := range resp.Topics {
		if resp.Topics[j].Topic == g.topic && resp.Topics[j].TopicID == g.topicID {
			return &resp.Topics[j]
		}
	}
	st := kmsg.NewProduceResponseTopic()
	st.Topic, st.TopicID = g.topic, g.topicID
	resp.Topics = append(resp.Topics, st)
	return &resp.Topics[len(resp.Topics)-1]
}

// highWatermark asks the broker for a partition's high watermark with
// ListOffsets, resolving a topic ID (Produce v13) to its name through
// Metadata first.
func highWatermark(ctx context.Context, serve refbroker.ServeFunc, topic string, id [16]byte, partition int32) (int64, error) {
	name := topic
	if name == "" {
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 12 // the first version with topic IDs in the response
		r, err := serve(ctx, md)
		if err != nil {
			return 0, fmt.Errorf("metadata: %w", err)
		}
		for _, t := range r.(*kmsg.MetadataResponse).Topics {
			if t.TopicID == id && t.Topic != nil {
				name = *t.Topic
			}
		}
		if name == "" {
			return 0, fmt.Errorf("topic ID %x not in metadata", id)
		}
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = name
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp = partition, -1 // -1: the high watermark
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	r, err := serve(ctx, lo)
	if err != nil {
		return 0, fmt.Errorf("list offsets: %w", err)
	}
	topics := r.(*kmsg.ListOffsetsResponse).Topics
	if len(topics) != 1 || len(topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("list offsets: %d topics in the response, want 1 with 1 partition", len(topics))
	}
	p := topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return 0, fmt.Errorf("list offsets: %w", err)
	}
	return p.Offset, nil
}

// duplicate returns req with each due partition's batches followed by a
// copy stripped of its producer ID. Batches it cannot parse are left for
// the broker to reject. req's Records alias the request frame, so new
// slices are built rather than appending to them.
func (i *Injector) duplicate(req *kmsg.ProduceRequest) *kmsg.ProduceRequest {
	for t := range req.Topics {
		for p := range req.Topics[t].Partitions {
			rp := &req.Topics[t].Partitions[p]
			batches, err := storage.SplitBatches(rp.Records)
			if err != nil || !i.due() {
				continue
			}
			records := slices.Clone(rp.Records)
			for _, b := range batches {
				if c, err := stripProducer(b); err == nil {
					records = append(records, c...)
				}
			}
			if len(records) > len(rp.Records) {
				rp.Records = records
				i.hits.Add(1)
			}
		}
	}
	return req
}

// stripProducer returns a copy of a v2 record batch with its producer ID,
// epoch and base sequence cleared and its CRC recomputed, so that storing
// it again is not recognised as an idempotent retry. storage's batch-header
// codec knows the layout.
func stripProducer(batch []byte) ([]byte, error) {
	out := slices.Clone(batch)
	h, err := storage.ParseBatchHeader(out)
	if err != nil {
		return nil, fmt.Errorf("decode record batch: %w", err)
	}
	h.ProducerID, h.ProducerEpoch, h.BaseSequence = -1, -1, -1
	if err := storage.PutBatchHeader(out, h); err != nil {
		return nil, fmt.Errorf("encode record batch: %w", err)
	}
	return out, nil
}

// reorder swaps the first two batches of due partitions in resp.
func (i *Injector) reorder(resp *kmsg.FetchResponse) {
	for t := range resp.Topics {
		for p := range resp.Topics[t].Partitions {
			sp := &resp.Topics[t].Partitions[p]
			bs, err := storage.SplitBatches(sp.RecordBatches)
			if err != nil || len(bs) < 2 || !i.due() {
				continue
			}
			// A new slice: RecordBatches alias the broker's mapped log
			// until the response is encoded.
			sp.RecordBatches = slices.Concat(append([][]byte{bs[1], bs[0]}, bs[2:]...)...)
			i.hits.Add(1)
		}
	}
}

// stale moves every committed offset in resp back by StaleBy.
func (i *Injector) stale(resp *kmsg.OffsetFetchResponse) {
	back := func(o *int64) {
		if *o <= 0 {
			return
		}
		i.hits.Add(1)
		*o = max(0, *o-i.plan.StaleBy)
	}
	for t := range resp.Topics {
		for p := range resp.Topics[t].Partitions {
			back(&resp.Topics[t].Partitions[p].Offset)
		}
	}
	for g := range resp.Groups {
		for t := range resp.Groups[g].Topics {
			for p := range resp.Groups[g].Topics[t].Partitions {
				back(&resp.Groups[g].Topics[t].Partitions[p].Offset)
			}
		}
	}
}
