package adapters

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Durability is how safe an acknowledged message is: what a comparison
// between systems must hold equal before its figures mean anything. A
// workload declares the level it wants (durability:), the adapter applies
// it where the client can, and then reads back what the server actually
// does ([Durabler]); results carry both.
type Durability string

// Durability levels, weakest first.
const (
	// DurabilityMemory: not persisted; a broker restart loses it.
	DurabilityMemory Durability = "memory"
	// DurabilityAsyncDisk: persisted, but not synced to disk before the
	// ack; a machine crash can lose the last moments.
	DurabilityAsyncDisk Durability = "async-disk"
	// DurabilitySyncDisk: synced to disk (fsync) before the ack.
	DurabilitySyncDisk Durability = "sync-disk"
	// DurabilityReplicated: acked once a quorum of replicas holds it.
	DurabilityReplicated Durability = "replicated"
)

// DurabilityLevels lists the levels, weakest first.
func DurabilityLevels() []Durability {
	return []Durability{DurabilityMemory, DurabilityAsyncDisk, DurabilitySyncDisk, DurabilityReplicated}
}

// DurabilityNames lists the levels' names, weakest first, for validation
// messages.
func DurabilityNames() []string {
	var out []string
	for _, d := range DurabilityLevels() {
		out = append(out, string(d))
	}
	return out
}

// ParseDurability reads a level's name; "" is "" (the system's default).
func ParseDurability(s string) (Durability, error) {
	d := Durability(strings.ToLower(strings.TrimSpace(s)))
	if d == "" || slices.Contains(DurabilityLevels(), d) {
		return d, nil
	}
	return "", fmt.Errorf("%w: durability %q is not one of %s", ErrInvalidConfig, s, strings.Join(DurabilityNames(), ", "))
}

// rank orders the levels; 0 for "" (unknown).
func (d Durability) rank() int { return slices.Index(DurabilityLevels(), d) + 1 }

// AtLeast reports whether d is as safe as o or safer. An unknown level is
// never at least a known one.
func (d Durability) AtLeast(o Durability) bool { return d.rank() >= o.rank() && (d != "" || o == "") }

// DurabilityReport is what a run was measured on: the level the workload
// asked for, the level the server was found to provide, and the evidence
// (settings read back from the server, and what could not be read).
type DurabilityReport struct {
	// Requested is the workload's durability:, "" for the system default.
	Requested Durability `json:"requested,omitempty"`
	// Effective is the level the server provides as read back, "" when it
	// could not be determined (Evidence says why).
	Effective Durability `json:"effective,omitempty"`
	// Evidence lists what Effective rests on, e.g. "CONFIG GET appendfsync
	// = everysec", "stream bench-0 storage=file replicas=1".
	Evidence []string `json:"evidence,omitempty"`
}

// Met reports whether the effective level is at least the requested one
// (always true without a request).
func (r DurabilityReport) Met() bool { return r.Requested == "" || r.Effective.AtLeast(r.Requested) }

// String is a one-line description for tables and logs.
func (r DurabilityReport) String() string {
	eff := string(r.Effective)
	if eff == "" {
		eff = "unknown"
	}
	if r.Requested == "" || r.Requested == r.Effective {
		return eff
	}
	return fmt.Sprintf("%s (requested %s)", eff, r.Requested)
}

// Durabler is implemented by adapters that can read back the durability
// their server gives a topic's messages. CreateTopic has applied
// TopicSpec.Durability where the client can; Durability then reports
// what the server actually does, with its evidence, for the producers the
// adapter makes with acks.
type Durabler interface {
	Durability(ctx context.Context, topic string, acks Acks) (DurabilityReport, error)
}
