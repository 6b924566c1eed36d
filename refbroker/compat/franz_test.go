package compat

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// franz-go (kgo, kadm): the client the rest of brokerbench uses.
func init() {
	register(&client{
		name:       "franz-go",
		need:       func(*testing.T) {},
		idempotent: true,
		produce:    franzProduce,
		consume:    franzConsume,
		reset:      franzReset,
		resume:     franzResume,
		rebalance:  franzRebalance,
		admin:      franzAdmin,
		notes: map[string]string{
			"consume": "end of partition: the fetch's high watermark",
			"reset":   "ConsumeResetOffset(AtStart) after a committed offset beyond the end",
		},
	})
}

func franzClient(e *env, opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.addr)}, opts...)...)
}

func franzProduce(e *env, topic, codec string, recs []rec) error {
	// Idempotence is kgo's default; acks=all is required by it.
	cl, err := franzClient(e, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgoCodec(codec)))
	if err != nil {
		return err
	}
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: topic, Value: []byte(r.Value)}
		for _, k := range sortedKeys(r.Headers) {
			krs[i].Headers = append(krs[i].Headers, kgo.RecordHeader{Key: k, Value: []byte(r.Headers[k])})
		}
	}
	return cl.ProduceSync(e.ctx, krs...).FirstErr()
}

// franzPoll polls cl until the end of partition 0 of topic, which kgo
// knows from each fetch's high watermark (FetchPartition.HighWatermark).
func franzPoll(e *env, cl *kgo.Client, topic string, limit int) ([]rec, error) {
	var out []rec
	for {
		fs := cl.PollRecords(e.ctx, max(limit-len(out), 0))
		if err := e.ctx.Err(); err != nil {
			return out, fmt.Errorf("after %d records: %w", len(out), err)
		}
		var ferr error
		atEnd := false
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return out, ferr
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				out = append(out, fromKgo(r))
			}
			if p.Topic == topic && p.Partition == 0 && len(out) > 0 && out[len(out)-1].Offset+1 >= p.HighWatermark {
				atEnd = true
			}
		})
		if atEnd || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
	}
}

func franzConsume(e *env, topic string) ([]rec, error) {
	cl, err := franzClient(e, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return franzPoll(e, cl, topic, 0)
}

func franzReset(e *env, topic, group string) ([]rec, error) {
	cl, err := franzClient(e, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return franzPoll(e, cl, topic, 0)
}

func franzResume(e *env, topic, group string, n int) (first, rest []rec, err error) {
	member := func(limit int) ([]rec, error) {
		cl, err := franzClient(e, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		got, err := franzPoll(e, cl, topic, limit)
		if err != nil {
			return got, err
		}
		if limit > 0 {
			got = got[:limit]
			at := map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: got[limit-1].Offset + 1}}}
			cl.CommitOffsetsSync(e.ctx, at, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, cerr error) {
				err = cerr
				if err == nil {
					err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
				}
			})
		}
		return got, err
	}
	if first, err = member(n); err != nil {
		return first, nil, fmt.Errorf("first member: %w", err)
	}
	rest, err = member(0)
	return first, rest, err
}

func franzRebalance(e *env, topic, group string) (a, b []int32, got []rec, err error) {
	newMember := func(id string) (*kgo.Client, error) {
		return franzClient(e, kgo.ClientID(id), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	ma, err := newMember(memberA)
	if err != nil {
		return nil, nil, nil, err
	}
	defer ma.Close()
	for len(got) < rebalancePartitions*rebalanceRecords {
		got = append(got, pollOnce(e, ma)...)
		if e.ctx.Err() != nil {
			return nil, nil, got, fmt.Errorf("first member alone: %w", e.ctx.Err())
		}
	}
	mb, err := newMember(memberB)
	if err != nil {
		return nil, nil, got, err
	}
	defer mb.Close()
	for ok := false; !ok; a, b, ok = e.split(group, topic) {
		got = append(got, pollOnce(e, ma)...)
		got = append(got, pollOnce(e, mb)...)
		if e.ctx.Err() != nil {
			return a, b, got, fmt.Errorf("after the join: %w", e.ctx.Err())
		}
	}
	return a, b, got, nil
}

func franzAdmin(e *env, adminTopic, group, tsTopic string) (res adminResult, err error) {
	cl, err := franzClient(e)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(e.ctx, 3, 1, nil, adminTopic); err != nil {
		return res, fmt.Errorf("create: %w", err)
	}
	td, err := adm.ListTopics(e.ctx, adminTopic)
	if err != nil {
		return res, fmt.Errorf("describe: %w", err)
	}
	res.CreatedPartitions = len(td[adminTopic].Partitions)
	listed, err := adm.ListGroups(e.ctx)
	if err != nil {
		return res, fmt.Errorf("list groups: %w", err)
	}
	res.Groups = listed.Groups()
	described, err := adm.DescribeGroups(e.ctx, group)
	if err != nil {
		return res, fmt.Errorf("describe group: %w", err)
	}
	res.GroupState = described[group].State
	offs, err := adm.ListOffsetsAfterMilli(e.ctx, adminTimestamp, tsTopic)
	if err != nil {
		return res, fmt.Errorf("offsets by time: %w", err)
	}
	o, _ := offs.Lookup(tsTopic, 0)
	res.TimeOffset = o.Offset
	if _, err := adm.DeleteTopic(e.ctx, adminTopic); err != nil {
		return res, fmt.Errorf("delete: %w", err)
	}
	return res, nil
}

// pollOnce polls cl briefly and returns what came, so one goroutine can
// drive several members.
func pollOnce(e *env, cl *kgo.Client) []rec {
	ctx, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
	defer cancel()
	var out []rec
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, fromKgo(r)) })
	return out
}
