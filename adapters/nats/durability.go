package nats

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
)

// streamDurability returns the stream storage and replica count that ask
// JetStream for level d: memory storage for memory, file storage for the
// disk levels, and for replicated at least 3 replicas when the server is
// part of a cluster (a single server refuses more than 1). An empty d
// keeps the adapter's configuration.
func (n *NATS) streamDurability(d adapters.Durability, storage jetstream.StorageType, replicas int) (jetstream.StorageType, int) {
	switch d {
	case adapters.DurabilityMemory:
		return jetstream.MemoryStorage, replicas
	case adapters.DurabilityAsyncDisk, adapters.DurabilitySyncDisk:
		return jetstream.FileStorage, replicas
	case adapters.DurabilityReplicated:
		if n.nc.ConnectedClusterName() != "" {
			replicas = max(replicas, 3)
		}
		return jetstream.FileStorage, replicas
	}
	return storage, replicas
}

// Durability reads the topic's stream back from the server (stream info:
// storage, replicas, cluster peers). JetStream acknowledges a publish once
// the stream's leader (and, with replicas, a quorum) has written it, but
// it fsyncs file storage on the server's sync_interval (2 minutes by
// default) unless the server runs with sync: always, which a client cannot
// read; file storage is therefore reported as async-disk, never sync-disk.
func (n *NATS) Durability(ctx context.Context, topic string, acks adapters.Acks) (adapters.DurabilityReport, error) {
	var rep adapters.DurabilityReport
	stream, err := n.js.Stream(ctx, streamName(topic))
	if err != nil {
		return rep, fmt.Errorf("durability of topic %q: look up stream: %w", topic, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return rep, fmt.Errorf("durability of topic %q: stream info: %w", topic, err)
	}
	peers := 1
	if info.Cluster != nil {
		peers += len(info.Cluster.Replicas)
	}
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("stream %s: storage=%s replicas=%d, %d peer(s) in its group, server cluster %q",
		info.Config.Name, info.Config.Storage, info.Config.Replicas, peers, n.nc.ConnectedClusterName()))
	switch {
	case acks == adapters.AcksNone:
		rep.Effective = adapters.DurabilityMemory
		rep.Evidence = append(rep.Evidence, "producers use acks=0: core NATS publishes, a send completes before the server has it")
	case info.Config.Storage == jetstream.MemoryStorage:
		rep.Effective = adapters.DurabilityMemory
	case info.Config.Replicas >= 2 && peers >= 2:
		rep.Effective = adapters.DurabilityReplicated
	default:
		rep.Effective = adapters.DurabilityAsyncDisk
		rep.Evidence = append(rep.Evidence, "file storage is fsynced on the server's sync_interval (default 2 min), which a client cannot read: sync-disk not claimed")
	}
	return rep, nil
}

var _ adapters.Durabler = (*NATS)(nil)
