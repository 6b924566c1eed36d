package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
)

// Redis persistence is a server setting, not a stream's: the durability a
// workload asks for is applied with CONFIG SET on every node (every master
// of a cluster), and the values found before are put back by Close, so a
// run leaves the server as it found it.
//
//	memory      appendonly no (RDB snapshots, if configured, stay: they are reported)
//	async-disk  appendonly yes, appendfsync everysec
//	sync-disk   appendonly yes, appendfsync always
//	replicated  acks=all producers end each pipeline with WAIT q <WaitTimeout>, q the
//	            replicas a majority of master and replicas needs (online replicas
//	            read at CreateTopic); persistence is left as the server has it. Not
//	            on a cluster (WAIT is per connection, a pipeline spans masters) or
//	            without replicas: then reported as what the server gives.
var durabilitySettings = map[adapters.Durability][][2]string{
	adapters.DurabilityMemory:    {{"appendonly", "no"}},
	adapters.DurabilityAsyncDisk: {{"appendonly", "yes"}, {"appendfsync", "everysec"}},
	adapters.DurabilitySyncDisk:  {{"appendonly", "yes"}, {"appendfsync", "always"}},
}

// forEachNode calls fn on the one server, or on every master of a cluster.
func (r *Redis) forEachNode(ctx context.Context, fn func(ctx context.Context, c *goredis.Client) error) error {
	switch c := r.admin.(type) {
	case *goredis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *goredis.Client:
		return fn(ctx, c)
	default:
		return fmt.Errorf("redis: unexpected client type %T", r.admin)
	}
}

// applyDurability sets the server's persistence for level d, remembering
// the previous values for Close. CONFIG may be disabled or renamed (managed
// services often do); the error then says so, and the read-back reports
// what the server gives.
func (r *Redis) applyDurability(ctx context.Context, d adapters.Durability) error {
	if d == adapters.DurabilityReplicated {
		return r.applyReplicated(ctx)
	}
	settings := durabilitySettings[d]
	if len(settings) == 0 {
		return nil
	}
	return r.forEachNode(ctx, func(ctx context.Context, c *goredis.Client) error {
		for _, kv := range settings {
			old, err := c.ConfigGet(ctx, kv[0]).Result()
			if err != nil {
				return fmt.Errorf("redis CONFIG GET %s on %s: %w", kv[0], c.Options().Addr, err)
			}
			if old[kv[0]] == kv[1] {
				continue
			}
			if err := c.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
				return fmt.Errorf("redis CONFIG SET %s %s on %s (durability %s): %w", kv[0], kv[1], c.Options().Addr, d, err)
			}
			r.mu.Lock()
			r.restore = append(r.restore, configRestore{addr: c.Options().Addr, key: kv[0], value: old[kv[0]]})
			r.mu.Unlock()
		}
		return nil
	})
}

// applyReplicated makes acks=all producers WAIT for a quorum of the
// replicas connected now (see durabilitySettings).
func (r *Redis) applyReplicated(ctx context.Context) error {
	c, ok := r.admin.(*goredis.Client)
	if !ok {
		return fmt.Errorf("durability replicated: not applied on Redis Cluster (WAIT covers one connection's writes, a pipeline spans masters)")
	}
	replicas, err := connectedReplicas(ctx, c)
	if err != nil {
		return err
	}
	if replicas == 0 {
		return fmt.Errorf("durability replicated: %s has no online replicas (INFO replication)", c.Options().Addr)
	}
	r.mu.Lock()
	r.waitReplicas = quorumReplicas(replicas)
	r.mu.Unlock()
	return nil
}

// quorumReplicas is how many of n replicas must hold an entry for a
// majority of the n+1 nodes (master included) to hold it.
func quorumReplicas(n int) int { return (n + 1) / 2 }

// connectedReplicas counts the replicas INFO replication lists as online
// ("slaveN:...,state=online,..."): connected_slaves also counts replicas
// still in their initial sync, which acknowledge nothing to WAIT.
func connectedReplicas(ctx context.Context, c *goredis.Client) (int, error) {
	repl, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO replication on %s: %w", c.Options().Addr, err)
	}
	n := 0
	for line := range strings.SplitSeq(repl, "\n") {
		if strings.HasPrefix(line, "slave") && strings.Contains(line, "state=online") {
			n++
		}
	}
	return n, nil
}

// configRestore is one server setting to put back at Close.
type configRestore struct{ addr, key, value string }

// restoreConfig puts back the settings applyDurability changed, newest
// first.
func (r *Redis) restoreConfig(ctx context.Context) error {
	r.mu.Lock()
	todo := r.restore
	r.restore = nil
	r.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	var errs []error
	err := r.forEachNode(ctx, func(ctx context.Context, c *goredis.Client) error {
		for i := len(todo) - 1; i >= 0; i-- {
			if rs := todo[i]; rs.addr == c.Options().Addr {
				if err := c.ConfigSet(ctx, rs.key, rs.value).Err(); err != nil {
					errs = append(errs, fmt.Errorf("redis restore %s %q on %s: %w", rs.key, rs.value, rs.addr, err))
				}
			}
		}
		return nil
	})
	return errors.Join(err, errors.Join(errs...))
}

// Durability reads back the persistence of every node (CONFIG GET
// appendonly, appendfsync, save; INFO replication) and reports the weakest
// node's level, or replicated when acks=all producers WAIT for a quorum
// of the replicas connected now.
func (r *Redis) Durability(ctx context.Context, _ string, acks adapters.Acks) (adapters.DurabilityReport, error) {
	var rep adapters.DurabilityReport
	r.mu.Lock()
	if r.applyErr != nil {
		rep.Evidence = append(rep.Evidence, "could not apply the requested durability: "+r.applyErr.Error())
	}
	wait := r.waitReplicas
	r.mu.Unlock()
	if acks != adapters.AcksAll {
		wait = 0 // producerSizing: only acks=all producers WAIT
	}
	var levels []adapters.Durability
	err := r.forEachNode(ctx, func(ctx context.Context, c *goredis.Client) error {
		cfg := map[string]string{}
		for _, key := range []string{"appendonly", "appendfsync", "save"} {
			v, err := c.ConfigGet(ctx, key).Result()
			if err != nil {
				return fmt.Errorf("redis CONFIG GET %s on %s: %w", key, c.Options().Addr, err)
			}
			cfg[key] = v[key]
		}
		replicas, err := connectedReplicas(ctx, c)
		if err != nil {
			return err
		}
		level := adapters.DurabilityMemory
		switch {
		case wait > 0 && replicas >= wait:
			level = adapters.DurabilityReplicated
		case cfg["appendonly"] == "yes" && cfg["appendfsync"] == "always":
			level = adapters.DurabilitySyncDisk
		case cfg["appendonly"] == "yes" || cfg["save"] != "":
			level = adapters.DurabilityAsyncDisk
		}
		waits := "sends do not WAIT for them"
		if wait > 0 {
			waits = fmt.Sprintf("acks=all sends WAIT %d %d (a majority of master and replicas; replicas hold entries in memory, their persistence is their own)", wait, r.cfg.WaitTimeout.Milliseconds())
		}
		levels = append(levels, level)
		rep.Evidence = append(rep.Evidence, fmt.Sprintf("%s: appendonly=%s appendfsync=%s save=%q online replicas=%d (%s)",
			c.Options().Addr, cfg["appendonly"], cfg["appendfsync"], cfg["save"], replicas, waits))
		return nil
	})
	if err != nil {
		return rep, err
	}
	if acks == adapters.AcksNone {
		rep.Evidence = append(rep.Evidence, "producers use acks=0: a send completes before the server has it")
		levels = append(levels, adapters.DurabilityMemory)
	}
	rep.Effective = weakest(levels)
	return rep, nil
}

// weakest returns the least durable level of levels ("" for none).
func weakest(levels []adapters.Durability) adapters.Durability {
	var w adapters.Durability
	for i, l := range levels {
		if i == 0 || !l.AtLeast(w) {
			w = l
		}
	}
	return w
}

var _ adapters.Durabler = (*Redis)(nil)
