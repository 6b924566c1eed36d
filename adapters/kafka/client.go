package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/adapters"
)

// ClientSettings implements adapters.ClientReporter. The producer figures
// are read back from a kgo client built with the options NewProducer
// uses (kgo.Client.OptValue), so kgo's own defaults are reported as kgo
// applies them; the client is closed unused (kgo dials nothing until a
// request is issued). The consumer figures come from the consumer
// NewConsumer would build.
func (k *Kafka) ClientSettings(p adapters.ProducerConfig, c adapters.ConsumerConfig) []adapters.ClientSetting {
	var out []adapters.ClientSetting
	if p.ID != "" {
		out = append(out, k.producerSettings(p)...)
	}
	if c.ID != "" {
		out = append(out, k.consumerSettings(c)...)
	}
	return out
}

func (k *Kafka) producerSettings(p adapters.ProducerConfig) []adapters.ClientSetting {
	opts, err := k.producerOpts(p)
	if err != nil {
		return []adapters.ClientSetting{{Name: "producer", Value: "invalid: " + err.Error()}}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return []adapters.ClientSetting{{Name: "producer", Value: "invalid: " + err.Error()}}
	}
	defer cl.Close()
	set := func(name string, v any, workload bool, reason string) adapters.ClientSetting {
		s := adapters.ClientSetting{Name: name, Value: fmt.Sprint(v)}
		if !workload {
			s.Reason = reason
		}
		return s
	}
	idem := !cl.OptValue(kgo.DisableIdempotentWrite).(bool)
	return []adapters.ClientSetting{
		{Name: "client", Value: "one kgo client (own connections) per producer"},
		set("linger", cl.OptValue(kgo.ProducerLinger), p.Linger != 0,
			"kgo's default linger (10ms): batches form under load without adding much latency at low rates"),
		set("batch.max.bytes", cl.OptValue(kgo.ProducerBatchMaxBytes), p.BatchBytes != 0,
			"kgo's default (Kafka's historical message.max.bytes), so no batch exceeds what a broker with default limits accepts"),
		set("max buffered records", cl.OptValue(kgo.MaxBufferedRecords), p.MaxInFlight != 0,
			fmt.Sprintf("%d records in flight keep a max-rate producer busy over several batches per partition without unbounded memory", DefaultMaxInFlight)),
		inflightPerBroker(cl, idem),
		{Name: "idempotent", Value: fmt.Sprint(idem)},
		set("compression", compressionName(p.Compression), p.Compression != "", "Kafka's default: none"),
	}
}

// inflightPerBroker is kgo's bound on produce requests in flight to one
// broker: fixed at 5 by idempotence (the most Kafka >= 1.0 keeps in order
// per producer), otherwise the option (default 1, so retries cannot
// reorder).
func inflightPerBroker(cl *kgo.Client, idempotent bool) adapters.ClientSetting {
	s := adapters.ClientSetting{Name: "max in-flight requests per broker"}
	if idempotent {
		s.Value, s.Reason = "5", "kgo with idempotence: the most Kafka keeps in order per idempotent producer"
		return s
	}
	s.Value = fmt.Sprint(cl.OptValue(kgo.MaxProduceRequestsInflightPerBroker))
	s.Reason = "kgo's default without idempotence, so retries cannot reorder records"
	return s
}

func compressionName(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (k *Kafka) consumerSettings(cfg adapters.ConsumerConfig) []adapters.ClientSetting {
	c := consumerFor(cfg)
	commit := string(c.mode)
	switch c.mode {
	case adapters.CommitInterval:
		commit = fmt.Sprintf("marks, committed every %v", commitInterval(cfg))
	case adapters.CommitAuto:
		commit = "kgo autocommit of polled records"
	}
	poll := adapters.ClientSetting{Name: "max records per poll", Value: fmt.Sprint(c.maxPoll)}
	if cfg.Prefetch == 0 {
		poll.Reason = "bounds what one poll hands the handler loop, as max.poll.records (Kafka's default is 500)"
	}
	out := []adapters.ClientSetting{{Name: "consumer", Value: "one kgo client per group member"}, poll, {Name: "commit", Value: commit}}
	// The fetch sizes are kgo's defaults, read back from a client that
	// joins no group (one with a group would start joining it).
	dial, err := newDialer(k.cfg, adapters.RoleConsumers, nil)
	if err != nil {
		return out
	}
	opts, err := k.cfg.clientOpts(k.clientID("consumer", cfg.ID), dial)
	if err != nil {
		return out
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return out
	}
	defer cl.Close()
	const reason = "kgo's default, as the Java consumer's"
	return append(out,
		adapters.ClientSetting{Name: "fetch.max.bytes", Value: fmt.Sprint(cl.OptValue(kgo.FetchMaxBytes)), Reason: reason},
		adapters.ClientSetting{Name: "max.partition.fetch.bytes", Value: fmt.Sprint(cl.OptValue(kgo.FetchMaxPartitionBytes)), Reason: reason},
		adapters.ClientSetting{Name: "fetch.max.wait", Value: fmt.Sprint(cl.OptValue(kgo.FetchMaxWait)), Reason: "kgo's default (Kafka's is 500ms)"},
	)
}
