package share

import (
	"fmt"
	"maps"
	"strconv"
	"time"
)

// Group configs (KIP-932 / KIP-848 group config resource) a share group
// accepts through IncrementalAlterConfigs on a GROUP resource.
const (
	// ConfigAutoOffsetReset is where a share-partition starts when the
	// group first fetches it: "latest" (default) or "earliest".
	ConfigAutoOffsetReset = "share.auto.offset.reset"
	// ConfigLockDuration overrides Config.LockDuration, in milliseconds.
	ConfigLockDuration = "share.record.lock.duration.ms"
	// ConfigDeliveryLimit overrides Config.DeliveryLimit.
	ConfigDeliveryLimit = "share.delivery.count.limit"
)

// ConfigOp is one change of a group config: Value set, or deleted (back
// to the default) when Delete is true.
type ConfigOp struct {
	Name   string
	Value  string
	Delete bool
}

// validateGroupConfig checks one name/value pair.
func validateGroupConfig(name, value string) error {
	switch name {
	case ConfigAutoOffsetReset:
		if value != "earliest" && value != "latest" {
			return fmt.Errorf("%w: %s must be earliest or latest, not %q", ErrInvalidConfig, name, value)
		}
	case ConfigLockDuration:
		ms, err := strconv.ParseInt(value, 10, 32)
		if err != nil || ms < 1 {
			return fmt.Errorf("%w: %s must be a positive number of milliseconds, not %q", ErrInvalidConfig, name, value)
		}
	case ConfigDeliveryLimit:
		n, err := strconv.ParseInt(value, 10, 32)
		if err != nil || n < 1 || n > maxDeliveryLimit {
			return fmt.Errorf("%w: %s must be in [1, %d], not %q", ErrInvalidConfig, name, maxDeliveryLimit, value)
		}
	default:
		return fmt.Errorf("%w: unknown or unsupported group config %q", ErrInvalidConfig, name)
	}
	return nil
}

// AlterConfigs applies ops to the configs of group (which need not exist
// yet, as in Kafka) atomically: all ops are validated first, and the new
// set is persisted before it takes effect. With validateOnly nothing
// changes. Errors wrap ErrInvalidConfig for bad input.
func (c *Coordinator) AlterConfigs(group string, ops []ConfigOp, validateOnly bool) error {
	if group == "" {
		return fmt.Errorf("%w: empty group name", ErrInvalidConfig)
	}
	for _, op := range ops {
		if op.Delete {
			if !isGroupConfig(op.Name) {
				return fmt.Errorf("%w: unknown or unsupported group config %q", ErrInvalidConfig, op.Name)
			}
			continue
		}
		if err := validateGroupConfig(op.Name, op.Value); err != nil {
			return err
		}
	}
	if validateOnly {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	g := c.getOrCreate(group)
	next := maps.Clone(g.configs)
	for _, op := range ops {
		if op.Delete {
			delete(next, op.Name)
		} else {
			next[op.Name] = op.Value
		}
	}
	if err := c.st.append([]frame{{kind: kindConfig, group: group, configs: next}}); err != nil {
		return fmt.Errorf("persist configs of share group %q: %w", group, err)
	}
	g.configs = next
	return nil
}

// GroupConfigs returns the effective value of every share group config of
// group (defaults included), for DescribeConfigs.
func (c *Coordinator) GroupConfigs(group string) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{
		ConfigAutoOffsetReset: "latest",
		ConfigLockDuration:    strconv.FormatInt(c.cfg.LockDuration.Milliseconds(), 10),
		ConfigDeliveryLimit:   strconv.Itoa(int(c.cfg.DeliveryLimit)),
	}
	if g := c.groups[group]; g != nil {
		maps.Copy(out, g.configs)
	}
	return out
}

// isGroupConfig reports whether name is a supported group config.
func isGroupConfig(name string) bool {
	switch name {
	case ConfigAutoOffsetReset, ConfigLockDuration, ConfigDeliveryLimit:
		return true
	}
	return false
}

// lockDuration is the group's acquisition lock duration.
func (c *Coordinator) lockDuration(g *group) time.Duration {
	if v, ok := g.configs[ConfigLockDuration]; ok {
		if ms, err := strconv.ParseInt(v, 10, 32); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return c.cfg.LockDuration
}

// deliveryLimit is the group's delivery-count limit.
func (c *Coordinator) deliveryLimit(g *group) int32 {
	if v, ok := g.configs[ConfigDeliveryLimit]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n > 0 {
			return int32(n)
		}
	}
	return c.cfg.DeliveryLimit
}

// earliest reports whether the group starts new share-partitions at the
// log start rather than the high watermark.
func (g *group) earliest() bool { return g.configs[ConfigAutoOffsetReset] == "earliest" }
