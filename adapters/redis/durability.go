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
//	replicated  not applied: sends do not WAIT for replicas; reported as what the server gives
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
// node's level. Sends never WAIT for replicas, so replicated is never
// reached, whatever replicas are connected.
func (r *Redis) Durability(ctx context.Context, _ string, acks adapters.Acks) (adapters.DurabilityReport, error) {
	var rep adapters.DurabilityReport
	r.mu.Lock()
	if r.applyErr != nil {
		rep.Evidence = append(rep.Evidence, "could not apply the requested durability: "+r.applyErr.Error())
	}
	r.mu.Unlock()
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
		repl, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Errorf("redis INFO replication on %s: %w", c.Options().Addr, err)
		}
		replicas := "0"
		for line := range strings.SplitSeq(repl, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
				replicas = v
			}
		}
		level := adapters.DurabilityMemory
		switch {
		case cfg["appendonly"] == "yes" && cfg["appendfsync"] == "always":
			level = adapters.DurabilitySyncDisk
		case cfg["appendonly"] == "yes" || cfg["save"] != "":
			level = adapters.DurabilityAsyncDisk
		}
		levels = append(levels, level)
		rep.Evidence = append(rep.Evidence, fmt.Sprintf("%s: appendonly=%s appendfsync=%s save=%q connected replicas=%s (sends do not WAIT for them)",
			c.Options().Addr, cfg["appendonly"], cfg["appendfsync"], cfg["save"], replicas))
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
