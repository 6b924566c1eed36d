package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brokerbench/brokerbench/adapters"
)

var _ adapters.CapacityWarner = (*Redis)(nil)

// probeEntries is how many entries the memory probe stream gets: a few
// radix-tree nodes (stream-node-max-entries defaults to 100), so the
// per-node overhead is amortised as in a long stream.
const probeEntries = 500

// CapacityWarnings implements adapters.CapacityWarner. Redis keeps every
// stream entry in memory until it is trimmed (XACK does not delete), so a
// run stores about plan.Messages entries (fewer with trimming). Their size
// is measured, not assumed: MEMORY USAGE of a probe stream of
// probeEntries entries of plan.MessageSize bytes, in the topic's slot,
// deleted afterwards. The run is warned about when the used memory plus
// that estimate exceeds maxmemory (or, with maxmemory 0, the host's
// memory) on any node.
func (r *Redis) CapacityWarnings(ctx context.Context, plan adapters.LoadPlan) ([]string, error) {
	if plan.Messages <= 0 || plan.MessageSize <= 0 {
		return nil, nil // max rate: how much a run stores is not known ahead
	}
	perEntry, err := r.entryBytes(ctx, plan.Topic, plan.MessageSize)
	if err != nil {
		return nil, err
	}
	entries := plan.Messages
	if m, err := loadMeta(ctx, r.admin, plan.Topic); err == nil {
		if t := r.trimFor(m); t.maxLen > 0 {
			entries = min(entries, t.maxLen*int64(plan.Partitions*max(plan.Topics, 1)))
		}
	}
	need := entries * perEntry
	var nodes []map[string]string
	err = r.forEachNode(ctx, func(ctx context.Context, c *goredis.Client) error {
		mem, err := infoFields(ctx, c, "memory")
		if err == nil {
			mem["addr"] = c.Options().Addr
			nodes = append(nodes, mem)
		}
		return err
	})
	if err != nil || r.cfg.MaxAge > 0 {
		return nil, err // MINID trimming bounds the stored entries by age, not count
	}
	// A cluster spreads the partitions over its masters: each holds
	// about its share.
	need /= int64(max(len(nodes), 1))
	var warnings []string
	for _, mem := range nodes {
		used, _ := strconv.ParseInt(mem["used_memory"], 10, 64)
		limit, _ := strconv.ParseInt(mem["maxmemory"], 10, 64)
		what := fmt.Sprintf("maxmemory %s (policy %s)", mib(limit), mem["maxmemory_policy"])
		if limit == 0 {
			limit, _ = strconv.ParseInt(mem["total_system_memory"], 10, 64)
			what = fmt.Sprintf("maxmemory unset; the host has %s (beyond it Redis swaps or is killed)", mib(limit))
		}
		if limit == 0 || used+need <= limit {
			continue
		}
		warnings = append(warnings, fmt.Sprintf(
			"redis %s: the run would store about %d entries x %d bytes (MEMORY USAGE of a probe stream) = %s on top of %s used, above %s; "+
				"writes then fail (OOM) or keys are evicted; shorten the run, or trim with BROKERBENCH_REDIS_MAXLEN (trimming drops unconsumed entries)",
			mem["addr"], entries, perEntry, mib(need), mib(used), what))
	}
	return warnings, nil
}

// entryBytes measures the memory of one stream entry with a value of size
// bytes, metadata and radix-tree share included.
func (r *Redis) entryBytes(ctx context.Context, topic string, size int) (int64, error) {
	key := "bb:{" + topic + "}:memprobe"
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i*7919 + i>>3) // not all alike, as payloads are not
	}
	pipe := r.admin.Pipeline()
	for range probeEntries {
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: key, Values: []any{fieldValue, value}})
	}
	usage := pipe.MemoryUsage(ctx, key, 0) // SAMPLES 0: every node of the stream
	pipe.Del(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("measure stream entry size: %w", err)
	}
	return usage.Val() / probeEntries, nil
}

// infoFields reads one INFO section as a map.
func infoFields(ctx context.Context, c *goredis.Client, section string) (map[string]string, error) {
	s, err := c.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("redis INFO %s on %s: %w", section, c.Options().Addr, err)
	}
	out := map[string]string{}
	for line := range strings.SplitSeq(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out, nil
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
