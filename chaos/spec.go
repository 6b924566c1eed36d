package chaos

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Kind names a fault. Network kinds act on [Network] proxies, process kinds
// on a [Process], and client kinds are carried out by the runner through
// [ClientFaults].
type Kind string

// The fault kinds. docs/chaos.md describes each one's effect on the wire.
const (
	// KindLatency delays every chunk of data by Latency +- Jitter, in each
	// direction the fault covers (both directions: the round trip grows by
	// twice Latency).
	KindLatency Kind = "latency"
	// KindBandwidth limits throughput to BytesPerSecond per connection and
	// direction.
	KindBandwidth Kind = "bandwidth"
	// KindBlackhole silently drops all data; connections stay open (a
	// Toxiproxy timeout toxic with timeout 0). Healing closes the connections
	// that were blackholed, as a TCP timeout eventually would.
	KindBlackhole Kind = "blackhole"
	// KindReset resets connections (TCP RST) as soon as they carry data,
	// for as long as the fault lasts (Toxiproxy reset_peer).
	KindReset Kind = "reset"
	// KindDown stops the proxy: open connections are closed and new ones
	// refused until the fault heals.
	KindDown Kind = "down"
	// KindKill sends SIGKILL to the broker's process group and, when the
	// fault heals (after Duration, which may be 0), restarts it on the same
	// port and data directory and waits until it accepts connections.
	KindKill Kind = "kill"
	// KindPause sends SIGSTOP to the broker's process group and SIGCONT
	// when the fault heals.
	KindPause Kind = "pause"
	// KindCrash makes the runner crash Count clients of the target role:
	// a consumer stops without committing, a producer is dropped mid-batch
	// without flushing. It is instantaneous (Duration must be 0).
	KindCrash Kind = "crash"
)

// kinds lists every Kind in documentation order.
var kinds = []Kind{KindLatency, KindBandwidth, KindBlackhole, KindReset, KindDown, KindKill, KindPause, KindCrash}

// IsNetwork reports whether k is applied by a [Network].
func (k Kind) IsNetwork() bool {
	switch k {
	case KindLatency, KindBandwidth, KindBlackhole, KindReset, KindDown:
		return true
	}
	return false
}

// IsProcess reports whether k is applied to a [Process].
func (k Kind) IsProcess() bool { return k == KindKill || k == KindPause }

// IsClient reports whether k is carried out by the runner's [ClientFaults].
func (k Kind) IsClient() bool { return k == KindCrash }

// Direction selects which half of a proxied connection a network fault acts
// on, in Toxiproxy's terms.
type Direction string

// Directions.
const (
	// DirBoth acts on both halves. It is the default.
	DirBoth Direction = "both"
	// DirUpstream acts on data from the client to the broker (requests).
	DirUpstream Direction = "upstream"
	// DirDownstream acts on data from the broker to the client (responses).
	DirDownstream Direction = "downstream"
)

// Targets and client roles. A network fault targets TargetAll or one role;
// the runner gives each role its own dialer (see [Network.Dialer]) so that,
// for example, a blackhole can cut only the consumers' path.
const (
	// TargetAll is every proxy of a Network, whatever its role. It is the
	// default target of network faults.
	TargetAll = "all"
	// RoleProducers names the connections of producers.
	RoleProducers = "producers"
	// RoleConsumers names the connections of consumers.
	RoleConsumers = "consumers"
	// RoleAdmin names the connections used for administration (topic
	// creation, lag queries).
	RoleAdmin = "admin"
	// TargetBroker is the default target of process faults: the name under
	// which the runner registers the broker it started (see [Injectors]).
	TargetBroker = "broker"
)

// Defaults applied by [Spec.Default] and [FaultSpec.Default].
const (
	// DefaultRecovery is how long the runner waits after the final heal
	// before it drains.
	DefaultRecovery = 10 * time.Second
	// RepeatForever as FaultSpec.Repeat repeats the fault every Interval
	// until the schedule's context ends.
	RepeatForever = -1
)

// Spec is the fault schedule of one workload: the chaos: key of
// workloads.yaml. After the faults the runner heals everything, waits
// Recovery, then drains fully before the history is checked. A Spec is a
// plain value; build it in code or decode it from YAML (unknown keys are
// errors), then call Validate.
type Spec struct {
	// Faults run concurrently, each on its own timeline.
	Faults []FaultSpec `yaml:"faults"`
	// Recovery is the wait after the final heal and before the drain, so
	// that clients reconnect and groups settle. Default DefaultRecovery (10s).
	Recovery Duration `yaml:"recovery,omitempty"`

	_ struct{} // forces keyed literals
}

// FaultSpec is one fault of a [Spec], repeated on a timeline: occurrence k
// (from 0) starts at Start + k*Interval after the schedule starts and heals
// Duration later.
type FaultSpec struct {
	// Kind is the fault; required.
	Kind Kind `yaml:"kind"`
	// Target names what the fault acts on: TargetAll or a role for network
	// faults (default TargetAll), a process name for process faults
	// (default TargetBroker), RoleProducers or RoleConsumers for crash
	// (required).
	Target string `yaml:"target,omitempty"`
	// Direction is DirBoth (default), DirUpstream or DirDownstream; network
	// faults other than down only.
	Direction Direction `yaml:"direction,omitempty"`
	// Start is the delay from the start of the schedule to the first
	// occurrence. Default 0.
	Start Duration `yaml:"start,omitempty"`
	// Interval is the time from one occurrence's start to the next; required
	// when Repeat is not 1, and greater than Duration so that the fault
	// heals in between.
	Interval Duration `yaml:"interval,omitempty"`
	// Duration is how long each occurrence lasts before it heals. Required
	// (> 0) for network faults and pause; kill may use 0 (restart at once);
	// crash must use 0.
	Duration Duration `yaml:"duration,omitempty"`
	// Repeat is the number of occurrences, or RepeatForever (-1). Default 1.
	Repeat int `yaml:"repeat,omitempty"`
	// Latency is the added one-way delay (latency only, >= 1ms, ms
	// resolution).
	Latency Duration `yaml:"latency,omitempty"`
	// Jitter spreads Latency uniformly by +- Jitter (latency only, <=
	// Latency, ms resolution). Default 0.
	Jitter Duration `yaml:"jitter,omitempty"`
	// BytesPerSecond is the bandwidth limit per connection and direction
	// (bandwidth only, >= 1000; applied in units of 1000 B/s).
	BytesPerSecond int64 `yaml:"bytesPerSecond,omitempty"`
	// Count is how many clients one crash occurrence crashes (crash only).
	// Default 1.
	Count int `yaml:"count,omitempty"`

	_ struct{} // forces keyed literals
}

// Default returns s with every unset field of s and its faults at its
// default. It does not validate.
func (s Spec) Default() Spec {
	if s.Recovery == 0 {
		s.Recovery = Duration(DefaultRecovery)
	}
	faults := make([]FaultSpec, len(s.Faults))
	for i, f := range s.Faults {
		faults[i] = f.Default()
	}
	s.Faults = faults
	return s
}

// Default returns f with its unset fields at their defaults for its kind.
func (f FaultSpec) Default() FaultSpec {
	if f.Repeat == 0 {
		f.Repeat = 1
	}
	switch {
	case f.Kind.IsNetwork():
		if f.Target == "" {
			f.Target = TargetAll
		}
		if f.Direction == "" && f.Kind != KindDown {
			f.Direction = DirBoth
		}
	case f.Kind.IsProcess():
		if f.Target == "" {
			f.Target = TargetBroker
		}
	case f.Kind.IsClient():
		if f.Count == 0 {
			f.Count = 1
		}
	}
	return f
}

// End returns how long after the schedule's start the last occurrence of
// the (defaulted) spec heals, and false if some fault repeats forever.
func (s Spec) End() (time.Duration, bool) {
	var end time.Duration
	for _, f := range s.Default().Faults {
		if f.Repeat == RepeatForever {
			return 0, false
		}
		e := f.Start.D() + time.Duration(f.Repeat-1)*f.Interval.D() + f.Duration.D()
		end = max(end, e)
	}
	return end, true
}

// String describes one occurrence of f for humans and for the value of
// nemesis events, e.g. "latency consumers both 50ms+-10ms", "kill broker",
// "blackhole all downstream", "crash 2 consumers".
func (f FaultSpec) String() string {
	f = f.Default()
	var b strings.Builder
	b.WriteString(string(f.Kind))
	if f.Kind.IsClient() {
		fmt.Fprintf(&b, " %d", f.Count)
	}
	b.WriteString(" " + f.Target)
	if f.Direction != "" {
		b.WriteString(" " + string(f.Direction))
	}
	switch f.Kind {
	case KindLatency:
		b.WriteString(" " + f.Latency.String())
		if f.Jitter != 0 {
			b.WriteString("+-" + f.Jitter.String())
		}
	case KindBandwidth:
		b.WriteString(" " + strconv.FormatInt(f.BytesPerSecond, 10) + "B/s")
	}
	return b.String()
}

// Duration is a time.Duration that reads and writes YAML as a string with a
// unit ("5s", "250ms", "1m30s"); a bare 0 is accepted, other bare numbers
// are rejected because their unit would be a guess.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string such as "5s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%w: line %d: want a duration such as 5s, got a %s", ErrInvalidSpec, n.Line, nodeKind(n))
	}
	s := strings.TrimSpace(n.Value)
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return fmt.Errorf("%w: line %d: duration %q has no unit; write e.g. %q or %q", ErrInvalidSpec, n.Line, s, s+"s", s+"ms")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%w: line %d: want a duration such as 5s, 250ms or 1m30s, got %q", ErrInvalidSpec, n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML decodes a Spec mapping, rejecting unknown keys with their
// line, so that a misspelt key fails instead of being ignored.
func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "chaos", "faults", "recovery"); err != nil {
		return err
	}
	type plain Spec
	var p plain
	if err := n.Decode(&p); err != nil {
		return wrapDecode(err)
	}
	*s = Spec(p)
	return nil
}

// UnmarshalYAML decodes a FaultSpec mapping, rejecting unknown keys with
// their line.
func (f *FaultSpec) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "fault", "kind", "target", "direction", "start", "interval", "duration",
		"repeat", "latency", "jitter", "bytesPerSecond", "count"); err != nil {
		return err
	}
	type plain FaultSpec
	var p plain
	if err := n.Decode(&p); err != nil {
		return wrapDecode(err)
	}
	*f = FaultSpec(p)
	return nil
}

// ParseSpec decodes a chaos spec from YAML (the value of a chaos: key) and
// validates it.
func ParseSpec(data []byte) (Spec, error) {
	var s Spec
	if err := yaml.Unmarshal(data, &s); err != nil {
		return Spec{}, wrapDecode(err)
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// checkKeys returns an error naming the line of the first key of mapping n
// that is not in known, or an error if n is not a mapping.
func checkKeys(n *yaml.Node, what string, known ...string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%w: line %d: %s: want a mapping, got a %s", ErrInvalidSpec, n.Line, what, nodeKind(n))
	}
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if seen[k.Value] {
			return fmt.Errorf("%w: line %d: %s: key %q given twice", ErrInvalidSpec, k.Line, what, k.Value)
		}
		seen[k.Value] = true
		ok := false
		for _, want := range known {
			ok = ok || k.Value == want
		}
		if !ok {
			return fmt.Errorf("%w: line %d: %s: unknown key %q; known keys: %s", ErrInvalidSpec, k.Line, what, k.Value, strings.Join(known, ", "))
		}
	}
	return nil
}

// wrapDecode makes sure a yaml decoding error classifies as ErrInvalidSpec
// without wrapping twice.
func wrapDecode(err error) error {
	if errors.Is(err, ErrInvalidSpec) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}
