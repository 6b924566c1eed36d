package compat

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// segmentio/kafka-go: its Writer has no idempotent producer.
func init() {
	register(&client{
		name:      "kafka-go",
		need:      func(*testing.T) {},
		produce:   kafkagoProduce,
		consume:   kafkagoConsume,
		reset:     kafkagoReset,
		resume:    kafkagoResume,
		rebalance: kafkagoRebalance,
		admin:     kafkagoAdmin,
		notes: map[string]string{
			"produce": "acks=all; kafka-go has no idempotent producer",
			"consume": "end of partition: Message.HighWaterMark",
			"reset":   "kafka-go waits past the end instead of resetting; with OffsetOutOfRangeError the Reader reports OFFSET_OUT_OF_RANGE and the test resets it to FirstOffset",
		},
	})
}

var kafkagoCodecs = map[string]kafka.Compression{
	"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd,
}

func kafkagoProduce(e *env, topic, codec string, recs []rec) error {
	// Its own transport, as a new producer process has: the default one
	// is shared and caches metadata from before the topic existed.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr: kafka.TCP(e.addr), Topic: topic, RequiredAcks: kafka.RequireAll,
		BatchSize: len(recs), BatchTimeout: 10 * time.Millisecond, Transport: tr,
	}
	w.Compression = kafkagoCodecs[codec]
	defer w.Close()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i].Value = []byte(r.Value)
		for _, k := range sortedKeys(r.Headers) {
			msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: k, Value: []byte(r.Headers[k])})
		}
	}
	return w.WriteMessages(e.ctx, msgs...)
}

func fromKafkago(m kafka.Message) rec {
	r := rec{Partition: int32(m.Partition), Offset: m.Offset, Value: string(m.Value), Headers: map[string]string{}}
	for _, h := range m.Headers {
		r.Headers[h.Key] = string(h.Value)
	}
	return r
}

// kafkagoToEnd reads r until a message's offset reaches the high
// watermark it came with, or limit messages (limit > 0).
func kafkagoToEnd(e *env, r *kafka.Reader, limit int) ([]rec, []kafka.Message, error) {
	var out []rec
	var msgs []kafka.Message
	for {
		m, err := r.FetchMessage(e.ctx)
		if err != nil {
			return out, msgs, fmt.Errorf("after %d records: %w", len(out), err)
		}
		out, msgs = append(out, fromKafkago(m)), append(msgs, m)
		if (limit > 0 && len(out) >= limit) || (limit == 0 && m.Offset+1 >= m.HighWaterMark) {
			return out, msgs, nil
		}
	}
}

func kafkagoConsume(e *env, topic string) ([]rec, error) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{e.addr}, Topic: topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		return nil, err
	}
	out, _, err := kafkagoToEnd(e, r, 0)
	return out, err
}

func kafkagoReset(e *env, topic, _ string) ([]rec, error) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{e.addr}, Topic: topic,
		MaxWait: 100 * time.Millisecond, OffsetOutOfRangeError: true})
	defer r.Close()
	if err := r.SetOffset(outOfRange); err != nil {
		return nil, err
	}
	if _, err := r.FetchMessage(e.ctx); !errors.Is(err, kafka.OffsetOutOfRange) {
		return nil, fmt.Errorf("read at offset %d: %v, want OFFSET_OUT_OF_RANGE", outOfRange, err)
	}
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		return nil, err
	}
	out, _, err := kafkagoToEnd(e, r, 0)
	return out, err
}

func kafkagoGroupReader(e *env, clientID, topic, group string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{e.addr}, Topic: topic, GroupID: group, StartOffset: kafka.FirstOffset,
		MaxWait: 100 * time.Millisecond, Dialer: &kafka.Dialer{ClientID: clientID, Timeout: 10 * time.Second},
		HeartbeatInterval: 100 * time.Millisecond, RebalanceTimeout: 5 * time.Second,
	})
}

func kafkagoResume(e *env, topic, group string, n int) (first, rest []rec, err error) {
	r := kafkagoGroupReader(e, "compat-1", topic, group)
	first, msgs, err := kafkagoToEnd(e, r, n)
	if err == nil {
		err = r.CommitMessages(e.ctx, msgs...)
	}
	if err = errors.Join(err, r.Close()); err != nil {
		return first, nil, fmt.Errorf("first member: %w", err)
	}
	r = kafkagoGroupReader(e, "compat-2", topic, group)
	defer r.Close()
	rest, _, err = kafkagoToEnd(e, r, 0)
	return first, rest, err
}

func kafkagoRebalance(e *env, topic, group string) (a, b []int32, got []rec, err error) {
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	start := func(id string) {
		r := kafkagoGroupReader(e, id, topic, group)
		wg.Go(func() {
			defer r.Close()
			for {
				m, err := r.FetchMessage(ctx)
				mu.Lock()
				if err != nil {
					if ctx.Err() == nil {
						errs = append(errs, fmt.Errorf("%s: %w", id, err))
					}
					mu.Unlock()
					return
				}
				got = append(got, fromKafkago(m))
				mu.Unlock()
			}
		})
	}
	start(memberA)
	for count() < rebalancePartitions*rebalanceRecords && e.ctx.Err() == nil {
		waitTick(e)
	}
	start(memberB)
	for ok := false; !ok && e.ctx.Err() == nil; a, b, ok = e.split(group, topic) {
		waitTick(e)
	}
	cancel()
	wg.Wait()
	return a, b, got, errors.Join(append(errs, e.ctx.Err())...)
}

func kafkagoAdmin(e *env, adminTopic, group, tsTopic string) (res adminResult, err error) {
	cl := &kafka.Client{Addr: kafka.TCP(e.addr), Timeout: 10 * time.Second}
	created, err := cl.CreateTopics(e.ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: adminTopic, NumPartitions: 3, ReplicationFactor: 1}}})
	if err == nil {
		err = created.Errors[adminTopic]
	}
	if err != nil {
		return res, fmt.Errorf("create: %w", err)
	}
	md, err := cl.Metadata(e.ctx, &kafka.MetadataRequest{Topics: []string{adminTopic}})
	if err != nil || len(md.Topics) != 1 {
		return res, fmt.Errorf("describe: %v", err)
	}
	res.CreatedPartitions = len(md.Topics[0].Partitions)
	listed, err := cl.ListGroups(e.ctx, &kafka.ListGroupsRequest{})
	if err == nil {
		err = listed.Error
	}
	if err != nil {
		return res, fmt.Errorf("list groups: %w", err)
	}
	for _, g := range listed.Groups {
		res.Groups = append(res.Groups, g.GroupID)
	}
	described, err := cl.DescribeGroups(e.ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(described.Groups) != 1 {
		return res, fmt.Errorf("describe group: %v", err)
	}
	res.GroupState = described.Groups[0].GroupState
	offs, err := cl.ListOffsets(e.ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		tsTopic: {kafka.TimeOffsetOf(0, time.UnixMilli(adminTimestamp))}}})
	if err != nil || len(offs.Topics[tsTopic]) != 1 {
		return res, fmt.Errorf("offset by time: %v", err)
	}
	res.TimeOffset = -1
	for o := range offs.Topics[tsTopic][0].Offsets {
		res.TimeOffset = o
	}
	deleted, err := cl.DeleteTopics(e.ctx, &kafka.DeleteTopicsRequest{Topics: []string{adminTopic}})
	if err == nil {
		err = deleted.Errors[adminTopic]
	}
	if err != nil {
		return res, fmt.Errorf("delete: %w", err)
	}
	return res, nil
}
