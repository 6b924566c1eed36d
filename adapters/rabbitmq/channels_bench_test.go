package rabbitmq

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
)

// BenchmarkProducerChannels is the measurement behind maxProducerChannels:
// one producer at maximum rate over a 4-partition topic (1 KiB messages,
// confirms, 1000 in flight), with its partitions on one channel or spread
// over 4 channels on 2 connections, alternating over rounds. It logs the
// confirmed rate of each.
func BenchmarkProducerChannels(b *testing.B) {
	adaptertest.RequireService(b, "rabbitmq", rabbitAddr)
	plans := map[string]producerPlan{
		"1 channel":                 {Channels: 1, Connections: 1, Window: DefaultConfirmWindow, MaxInFlight: 1000},
		"4 channels, 2 connections": {Channels: 4, Connections: 2, Window: 250, MaxInFlight: 1000},
	}
	for _, level := range []adapters.Durability{adapters.DurabilityMemory, adapters.DurabilitySyncDisk} {
		b.Run(string(level), func(b *testing.B) {
			r := newRabbit(b, "")
			rates := map[string][]float64{}
			for b.Loop() {
				for round := range 3 {
					names := []string{"1 channel", "4 channels, 2 connections"}
					if round%2 == 1 {
						names[0], names[1] = names[1], names[0]
					}
					for _, name := range names {
						rates[name] = append(rates[name], publishRate(b, r, level, plans[name], 3*time.Second))
					}
				}
			}
			for name, v := range rates {
				b.Logf("%s, %s: %.0f msg/s", level, name, v)
			}
		})
	}
}

// publishRate sends round robin over a fresh 4-partition topic for d.
func publishRate(b *testing.B, r *RabbitMQ, level adapters.Durability, plan producerPlan, d time.Duration) float64 {
	const parts = 4
	spec := adapters.TopicSpec{Name: "bbrabbit-" + adaptertest.Suffix(), Partitions: parts, Subscriptions: []string{"s"}, Durability: level}
	if err := r.CreateTopic(context.Background(), spec); err != nil {
		b.Fatal(err)
	}
	defer r.DeleteTopic(context.Background(), spec.Name)
	p, err := r.newProducer(context.Background(), adapters.ProducerConfig{ID: "channels", Acks: adapters.AcksAll}, plan)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	value := make([]byte, 1024)
	var acked atomic.Int64
	var wg sync.WaitGroup
	msgs := make([]adapters.Message, parts)
	for i := range msgs {
		msgs[i] = adapters.Message{Topic: spec.Name, Partition: int32(i), Value: value}
	}
	done := func(_ adapters.SendResult, err error) {
		if err == nil {
			acked.Add(1)
		}
		wg.Done()
	}
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		wg.Add(1)
		p.Send(context.Background(), &msgs[i%parts], done)
	}
	wg.Wait()
	return float64(acked.Load()) / time.Since(start).Seconds()
}
