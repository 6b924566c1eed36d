package kafka

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/brokerbench/brokerbench/adapters"
)

// durabilityConfigs returns the topic configs that ask the cluster for
// level d where Kafka can express it per topic, and the replication
// factor to create with (rf unchanged when d does not need more):
//   - sync-disk: flush.messages=1, the partition leader fsyncs every
//     append before it answers;
//   - replicated: as many replicas as the cluster has brokers, up to 3,
//     and min.insync.replicas=2, so acks=all waits for a quorum.
//
// memory cannot be asked of Kafka (the log is always on disk) and
// async-disk is Kafka's default; the read-back reports what they give.
func durabilityConfigs(d adapters.Durability, rf int16, brokers int) (map[string]*string, int16) {
	switch d {
	case adapters.DurabilitySyncDisk:
		return map[string]*string{"flush.messages": kadm.StringPtr("1")}, rf
	case adapters.DurabilityReplicated:
		if brokers < 2 {
			return nil, rf // cannot replicate; the read-back says so
		}
		return map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, int16(min(brokers, 3))
	}
	return nil, rf
}

// Durability reads back what the cluster does with topic's messages: its
// replication factor and min.insync.replicas (with the producers' acks)
// decide replicated; flush.messages=1 decides sync-disk; anything else is
// Kafka's page-cache durability, async-disk.
func (k *Kafka) Durability(ctx context.Context, topic string, acks adapters.Acks) (adapters.DurabilityReport, error) {
	var rep adapters.DurabilityReport
	details, err := k.adm.ListTopics(ctx, topic)
	if err != nil {
		return rep, fmt.Errorf("describe topic %q: %w", topic, err)
	}
	td, ok := details[topic]
	if !ok || td.Err != nil || len(td.Partitions) == 0 {
		return rep, fmt.Errorf("describe topic %q: not in metadata (%v)", topic, td.Err)
	}
	rf := len(td.Partitions.Sorted()[0].Replicas)
	rcs, err := k.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return rep, fmt.Errorf("describe configs of topic %q: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return rep, fmt.Errorf("describe configs of topic %q: %w", topic, err)
	}
	cfg := map[string]string{}
	for _, c := range rc.Configs {
		cfg[c.Key] = c.MaybeValue()
	}
	minISR, _ := strconv.Atoi(cfg["min.insync.replicas"])
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("topic %s: replication factor %d", topic, rf))
	for _, name := range []string{"min.insync.replicas", "flush.messages", "flush.ms"} {
		if v, ok := cfg[name]; ok {
			rep.Evidence = append(rep.Evidence, fmt.Sprintf("DescribeConfigs %s=%s", name, v))
		} else {
			rep.Evidence = append(rep.Evidence, fmt.Sprintf("DescribeConfigs has no %s", name))
		}
	}
	switch {
	case acks == adapters.AcksNone:
		// The producer does not wait for the broker at all: a send
		// completes before the broker has the message.
		rep.Effective = adapters.DurabilityMemory
		rep.Evidence = append(rep.Evidence, "producers use acks=0: a send completes before the broker has it")
	case rf >= 2 && minISR >= 2 && acks == adapters.AcksAll:
		rep.Effective = adapters.DurabilityReplicated
	case cfg["flush.messages"] == "1":
		rep.Effective = adapters.DurabilitySyncDisk
	default:
		rep.Effective = adapters.DurabilityAsyncDisk
	}
	return rep, nil
}

var _ adapters.Durabler = (*Kafka)(nil)
