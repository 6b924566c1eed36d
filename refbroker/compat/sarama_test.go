package compat

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/IBM/sarama"
)

// Sarama (github.com/IBM/sarama), configured for the newest Kafka version
// it knows, so it uses its newest request versions.
func init() {
	register(&client{
		name:       "sarama",
		need:       func(*testing.T) {},
		idempotent: true,
		produce:    saramaProduce,
		consume:    saramaConsume,
		reset:      saramaReset,
		resume:     saramaResume,
		rebalance:  saramaRebalance,
		admin:      saramaAdmin,
		notes: map[string]string{
			"consume": "end of partition: PartitionConsumer.HighWaterMarkOffset",
			"reset":   "Consumer.Offsets.Initial=OffsetOldest with ResetInvalidOffsets after a committed offset beyond the end",
		},
	})
}

func saramaConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.MaxVersion
	c.ClientID = clientID
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Return.Errors = true
	return c
}

var saramaCodecs = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

func saramaProduce(e *env, topic, codec string, recs []rec) error {
	c := saramaConfig("compat")
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1 // required by the idempotent producer
	c.Producer.Return.Successes = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Compression = saramaCodecs[codec]
	p, err := sarama.NewSyncProducer([]string{e.addr}, c)
	if err != nil {
		return err
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(r.Value)}
		for _, k := range sortedKeys(r.Headers) {
			msgs[i].Headers = append(msgs[i].Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(r.Headers[k])})
		}
	}
	return p.SendMessages(msgs)
}

func fromSarama(m *sarama.ConsumerMessage) rec {
	r := rec{Partition: m.Partition, Offset: m.Offset, Value: string(m.Value), Headers: map[string]string{}}
	for _, h := range m.Headers {
		r.Headers[string(h.Key)] = string(h.Value)
	}
	return r
}

func saramaConsume(e *env, topic string) ([]rec, error) {
	cons, err := sarama.NewConsumer([]string{e.addr}, saramaConfig("compat"))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var out []rec
	for {
		select {
		case m := <-pc.Messages():
			out = append(out, fromSarama(m))
			if m.Offset+1 >= pc.HighWaterMarkOffset() {
				return out, nil
			}
		case err := <-pc.Errors():
			return out, err
		case <-e.ctx.Done():
			return out, fmt.Errorf("after %d records: %w", len(out), e.ctx.Err())
		}
	}
}

// saramaHandler collects a group member's records. Each claim stops at
// the end of its partition when toEnd, or after limit records.
type saramaHandler struct {
	mu       sync.Mutex
	got      []rec
	limit    int
	toEnd    bool
	done     chan struct{}
	doneOnce sync.Once
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.got = append(h.got, fromSarama(m))
		n := len(h.got)
		h.mu.Unlock()
		s.MarkMessage(m, "")
		if (h.limit > 0 && n >= h.limit) || (h.toEnd && m.Offset+1 >= c.HighWaterMarkOffset()) {
			s.Commit()
			h.doneOnce.Do(func() { close(h.done) })
			if h.limit > 0 {
				return nil
			}
		}
	}
	return nil
}

func (h *saramaHandler) records() []rec {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]rec(nil), h.got...)
}

// saramaMember runs one group member until h is done or ctx ends.
func saramaMember(e *env, clientID, topic, group string, h *saramaHandler) ([]rec, error) {
	c := saramaConfig(clientID)
	c.Consumer.Offsets.AutoCommit.Enable = false
	g, err := sarama.NewConsumerGroup([]string{e.addr}, group, c)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(e.ctx)
	errc := make(chan error, 1)
	go func() {
		var err error
		for ctx.Err() == nil && err == nil {
			err = g.Consume(ctx, []string{topic}, h)
		}
		errc <- err
	}()
	select {
	case <-h.done:
	case <-e.ctx.Done():
	case err = <-g.Errors():
	}
	cancel()
	err = errors.Join(err, <-errc, g.Close(), e.ctx.Err())
	return h.records(), err
}

func saramaReset(e *env, topic, group string) ([]rec, error) {
	return saramaMember(e, "compat", topic, group, &saramaHandler{toEnd: true, done: make(chan struct{})})
}

func saramaResume(e *env, topic, group string, n int) (first, rest []rec, err error) {
	first, err = saramaMember(e, "compat-1", topic, group, &saramaHandler{limit: n, done: make(chan struct{})})
	if err != nil {
		return first, nil, fmt.Errorf("first member: %w", err)
	}
	rest, err = saramaMember(e, "compat-2", topic, group, &saramaHandler{toEnd: true, done: make(chan struct{})})
	return first, rest, err
}

func saramaRebalance(e *env, topic, group string) (a, b []int32, got []rec, err error) {
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var wg sync.WaitGroup
	var errs []error
	var mu sync.Mutex
	run := func(id string, h *saramaHandler) {
		c := saramaConfig(id)
		g, err := sarama.NewConsumerGroup([]string{e.addr}, group, c)
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return
		}
		wg.Go(func() {
			defer g.Close()
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", id, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	ha, hb := &saramaHandler{done: make(chan struct{})}, &saramaHandler{done: make(chan struct{})}
	run(memberA, ha)
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) > 0 }
	for len(ha.records()) < rebalancePartitions*rebalanceRecords && e.ctx.Err() == nil && !failed() {
		waitTick(e)
	}
	run(memberB, hb)
	for ok := false; !ok && e.ctx.Err() == nil && !failed(); a, b, ok = e.split(group, topic) {
		waitTick(e)
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return a, b, append(ha.records(), hb.records()...), errors.Join(append(errs, e.ctx.Err())...)
}

func saramaAdmin(e *env, adminTopic, group, tsTopic string) (res adminResult, err error) {
	cl, err := sarama.NewClient([]string{e.addr}, saramaConfig("compat-admin"))
	if err != nil {
		return res, err
	}
	defer cl.Close()
	adm, err := sarama.NewClusterAdminFromClient(cl)
	if err != nil {
		return res, err
	}
	if err := adm.CreateTopic(adminTopic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		return res, fmt.Errorf("create: %w", err)
	}
	md, err := adm.DescribeTopics([]string{adminTopic})
	if err != nil || len(md) != 1 {
		return res, fmt.Errorf("describe: %d topics, %w", len(md), err)
	}
	res.CreatedPartitions = len(md[0].Partitions)
	groups, err := adm.ListConsumerGroups()
	if err != nil {
		return res, fmt.Errorf("list groups: %w", err)
	}
	for g := range groups {
		res.Groups = append(res.Groups, g)
	}
	gd, err := adm.DescribeConsumerGroups([]string{group})
	if err != nil || len(gd) != 1 {
		return res, fmt.Errorf("describe group: %d groups, %w", len(gd), err)
	}
	res.GroupState = gd[0].State
	if res.TimeOffset, err = cl.GetOffset(tsTopic, 0, adminTimestamp); err != nil {
		return res, fmt.Errorf("offset by time: %w", err)
	}
	if err := adm.DeleteTopic(adminTopic); err != nil {
		return res, fmt.Errorf("delete: %w", err)
	}
	return res, nil
}
