package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

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
// storage, replicas, cluster peers) and the server's fsync settings from
// its monitoring endpoint (/varz, Config.MonitorURL) where reachable.
// JetStream acknowledges a publish once the stream's leader (and, with
// replicas, a quorum) has written it, but fsyncs file storage only on the
// server's sync_interval (2 minutes by default) unless it runs with
// sync_interval: always. File storage is reported as sync-disk only when
// /varz says sync_always, and as async-disk otherwise, including when the
// setting cannot be read.
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
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("stream %s: storage=%s replicas=%d, %d peer(s) in its group, server %s cluster %q",
		info.Config.Name, info.Config.Storage, info.Config.Replicas, peers, n.nc.ConnectedServerVersion(), n.nc.ConnectedClusterName()))
	var sync syncSettings
	if info.Config.Storage == jetstream.FileStorage {
		sync = n.readSync(ctx)
		rep.Evidence = append(rep.Evidence, sync.evidence)
	}
	switch {
	case acks == adapters.AcksNone:
		rep.Effective = adapters.DurabilityMemory
		rep.Evidence = append(rep.Evidence, "producers use acks=0: core NATS publishes, a send completes before the server has it")
	case info.Config.Storage == jetstream.MemoryStorage:
		rep.Effective = adapters.DurabilityMemory
	case info.Config.Replicas >= 2 && peers >= 2:
		rep.Effective = adapters.DurabilityReplicated
	case sync.always:
		rep.Effective = adapters.DurabilitySyncDisk
	default:
		rep.Effective = adapters.DurabilityAsyncDisk
		rep.Evidence = append(rep.Evidence, "file storage without sync_always read back: sync-disk not claimed")
	}
	return rep, nil
}

// syncSettings is what the server's /varz says about fsync.
type syncSettings struct {
	always   bool   // sync_interval: always
	evidence string // what was read, or why nothing was
}

// varz is the part of the server's /varz the adapter reads. Servers
// before 2.10 have neither field.
type varz struct {
	Version   string `json:"version"`
	JetStream struct {
		Config struct {
			SyncInterval *time.Duration `json:"sync_interval"`
			SyncAlways   bool           `json:"sync_always"`
		} `json:"config"`
	} `json:"jetstream"`
}

// monitorURL is the /varz URL to read, "" when Config.MonitorURL is off.
func (c Config) monitorURL() string {
	switch c.MonitorURL {
	case "off":
		return ""
	case "auto", "":
		u, err := url.Parse(strings.TrimSpace(strings.Split(c.URL, ",")[0]))
		if err != nil || u.Hostname() == "" {
			return ""
		}
		return "http://" + net.JoinHostPort(u.Hostname(), "8222") + "/varz"
	}
	return strings.TrimSuffix(c.MonitorURL, "/") + "/varz"
}

// readSync reads the server's fsync settings from /varz, with a short
// timeout: a missing endpoint must not hold up a run.
func (n *NATS) readSync(ctx context.Context) syncSettings {
	u := n.cfg.monitorURL()
	if u == "" {
		return syncSettings{evidence: "server fsync settings not read (MONITOR_URL off)"}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return syncSettings{evidence: fmt.Sprintf("server fsync settings not read: %v", err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return syncSettings{evidence: fmt.Sprintf("server fsync settings unreadable: monitoring endpoint %s not reachable (start the server with -m 8222 or set MONITOR_URL)", u)}
	}
	defer resp.Body.Close()
	var v varz
	if resp.StatusCode != http.StatusOK {
		return syncSettings{evidence: fmt.Sprintf("server fsync settings unreadable: %s answered %s", u, resp.Status)}
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return syncSettings{evidence: fmt.Sprintf("server fsync settings unreadable: %s: %v", u, err)}
	}
	cfg := v.JetStream.Config
	switch {
	case cfg.SyncAlways:
		return syncSettings{always: true, evidence: fmt.Sprintf("%s: server %s sync_always=true (fsync before each ack)", u, v.Version)}
	case cfg.SyncInterval != nil:
		return syncSettings{evidence: fmt.Sprintf("%s: server %s sync_interval=%v (fsync on that interval, not before the ack)", u, v.Version, *cfg.SyncInterval)}
	}
	// The field is omitted when unset (the 2-minute default) and unknown
	// before 2.10.
	return syncSettings{evidence: fmt.Sprintf("%s: server %s reports no sync_interval (its default, 2 min, or a server before 2.10, where it is not an option): fsync on an interval, not before the ack", u, v.Version)}
}

var _ adapters.Durabler = (*NATS)(nil)
