// Package systems is the registry of the systems brokerbench drives. Each
// system is declared once, in [All]: its name, the prefix of its
// BROKERBENCH_<SYSTEM>_* settings, its command-line endpoint flags, how to
// open it, and, when brokerbench can run a private broker of it for process
// faults (kill -9, SIGSTOP), how to start that process. The CLI's flags and
// `list` table, the suite's opener and workloads' systems: key all read
// this table.
//
// NOTE: to add a system, append one [System] to the list in [All].
package systems

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/chaos"
)

// ErrSetup is wrapped by errors that a user fixes in their setup rather
// than in the system: an invalid BROKERBENCH_* setting, a broker binary
// missing from $PATH, process faults on a system brokerbench cannot own.
var ErrSetup = errors.New("invalid system setup")

// System declares one system.
type System struct {
	// Name is what --system and a workload's systems: key accept.
	Name string
	// EnvPrefix prefixes the system's settings, e.g. "BROKERBENCH_REDIS_";
	// "" when it reads none.
	EnvPrefix string
	// Connection says how the system is reached, for `brokerbench list`;
	// empty means through its first flag or that flag's variable.
	Connection string
	// Notes describe the system in `brokerbench list`.
	Notes string
	// Flags are the command-line flags that override the system's main
	// endpoint settings.
	Flags []Flag
	// Settings lists the BROKERBENCH_* variables the system reads, bound
	// to a default configuration; docs/adapters/<Name>.md's table is
	// generated from it. nil when the system reads none.
	Settings func() []adapters.Setting
	// Capabilities lists the adapter's capabilities per configuration, the
	// columns of the capability matrix in docs/adapters/README.md; nil when
	// another system's adapter covers this one (refbroker is served by the
	// Kafka adapter).
	Capabilities func() []adapters.CapabilityVariant
	// Open connects to the system, starting it first when it is embedded.
	// The returned function releases everything Open started.
	Open func(ctx context.Context, o OpenOptions) (adapters.System, func() error, error)
	// NoProxy, when set, says why the system's connections cannot go
	// through the fault proxies (Open ignores OpenOptions.Dialer), so the
	// suite refuses network faults on it instead of running them with no
	// effect. Empty for systems whose adapter takes a RoleDialer.
	NoProxy string
	// Process, when set, returns the configuration of a private broker of
	// this system that brokerbench runs itself on 127.0.0.1:port with its
	// own data directory, so that process faults can kill, pause and
	// restart it. nil: brokerbench cannot own this system's process.
	Process func(dataDir string, port int) (chaos.ProcessConfig, error)
}

// Flag is a command-line flag that overrides one BROKERBENCH_* setting.
type Flag struct {
	// Name is the flag, e.g. "redis-addr".
	Name string
	// Key is the setting after the system's EnvPrefix, e.g. "ADDR".
	Key string
	// Help is the flag's one-line description.
	Help string
}

// Env is the environment variable flag overrides.
func (s System) Env(flag Flag) string { return s.EnvPrefix + flag.Key }

// ConnectionHelp says how the system is reached, e.g.
// "BROKERBENCH_REDIS_ADDR or --redis-addr".
func (s System) ConnectionHelp() string {
	if s.Connection != "" || len(s.Flags) == 0 {
		return s.Connection
	}
	return s.Env(s.Flags[0]) + " or --" + s.Flags[0].Name
}

// OpenOptions are what [System.Open] needs from the suite.
type OpenOptions struct {
	// Getenv resolves BROKERBENCH_* settings (flags first, then the
	// environment). Required.
	Getenv func(string) string
	// Dialer routes every connection through the fault proxies; nil for
	// plain TCP.
	Dialer adapters.RoleDialer
	// Logger is an embedded broker's own logger; nil discards.
	Logger *slog.Logger
	// ToolVersion labels an embedded broker in results, e.g. "0.1.0-dev".
	ToolVersion string
	// Owned is the private broker brokerbench started from
	// [System.Process] for process faults; nil to use the configured one
	// (or, for refbroker, one Open starts itself).
	Owned *chaos.Process
	// SelfExec says that the running program calls [ServeRefbroker] first
	// thing in main, so refbroker can run as a re-execution of it when no
	// refbroker binary is found. The brokerbench command sets it.
	SelfExec bool
}

// All returns the systems in the order they are listed and run.
func All() []System {
	return []System{refbrokerSystem(), kafkaSystem(), rabbitmqSystem(), redisSystem(), natsSystem(), sqsSystem()}
}

// Lookup returns the system named name.
func Lookup(name string) (System, bool) {
	i := slices.IndexFunc(All(), func(s System) bool { return s.Name == name })
	if i < 0 {
		return System{}, false
	}
	return All()[i], true
}

// Names returns the systems' names in [All]'s order.
func Names() []string {
	var names []string
	for _, s := range All() {
		names = append(names, s.Name)
	}
	return names
}

// Owners returns the names of the systems whose process brokerbench can
// run itself (those with a [System.Process]).
func Owners() []string {
	var names []string
	for _, s := range All() {
		if s.Process != nil {
			names = append(names, s.Name)
		}
	}
	return names
}

// setupError marks err as a setup error without changing its text.
type setupError struct{ err error }

func (e setupError) Error() string        { return e.err.Error() }
func (e setupError) Unwrap() error        { return e.err }
func (e setupError) Is(target error) bool { return target == ErrSetup }

// Setup marks err as a setup error ([ErrSetup]) without changing its text;
// nil stays nil.
func Setup(err error) error {
	if err == nil {
		return nil
	}
	return setupError{err}
}

// Setupf formats a setup error.
func Setupf(format string, args ...any) error { return Setup(fmt.Errorf(format, args...)) }

// closer adapts a constructor's result to Open's.
func closer[S adapters.System](s S, err error) (adapters.System, func() error, error) {
	if err != nil {
		return nil, nil, err
	}
	return s, s.Close, nil
}

// MappingFor says how system name maps the workload concepts in the
// configuration that has capabilities caps: the mapping of the variant of
// its adapter's CapabilityVariants with exactly those capabilities. A
// system served by another's adapter (refbroker by Kafka's) declares no
// variants, so the variants of every system are searched after its own.
// nil when none matches.
func MappingFor(name string, caps adapters.Capabilities) *adapters.Mapping {
	own, _ := Lookup(name)
	for _, s := range append([]System{own}, All()...) {
		if s.Capabilities == nil {
			continue
		}
		for _, v := range s.Capabilities() {
			if v.Capabilities == caps {
				m := v.Mapping
				return &m
			}
		}
	}
	return nil
}
