// Package runner runs one concrete workload against one system and returns
// its result.
//
// The pipeline reads straight through: a [workloads.Workload] and an
// [adapters.System] go in; the runner creates the topics, starts the
// consumers and waits until every subscription is reading every partition
// (a readiness probe), drives the producers on an open-loop schedule
// through warm-up and the measured phase, churns consumers if asked, stops
// the producers, drains, and hands back a [results.Result].
//
// Every message carries a 32-byte header (producer id, sequence number,
// intended and actual send time on one monotonic clock), so end-to-end
// latency has no clock skew and losses, duplicates and reordering are
// counted per subscription and partition.
package runner

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/brokerbench/brokerbench/chaos"
	"github.com/brokerbench/brokerbench/results"
)

// Progress is what the runner reports once per sample interval.
type Progress struct {
	// Workload and System name the run.
	Workload, System string
	// Phase is "warmup", "measure", "backlog-build", "backlog-drain" or
	// "drain".
	Phase string
	// Elapsed is time since the run's producers started; Total is the
	// planned length of warm-up plus measurement (0 when unknown, as in a
	// backlog build).
	Elapsed, Total time.Duration
	// PublishRate and ConsumeRate are this interval's msg/s.
	PublishRate, ConsumeRate float64
	// PublishP99 and EndToEndP99 are this interval's corrected p99s in ms.
	PublishP99, EndToEndP99 float64
	// Backlog is the client-side backlog in messages.
	Backlog int64
	// Errors is the total failed sends so far.
	Errors int64
}

// Runner runs workloads. It holds only configuration, so one Runner may run
// several workloads, one after another or concurrently.
type Runner struct {
	interval     time.Duration
	duration     time.Duration
	warmup       time.Duration
	warmupSet    bool
	readyTimeout time.Duration
	drainTimeout time.Duration
	keepTopics   bool
	seed         uint64
	logger       *slog.Logger
	progress     func(Progress)
	tool         string
	revision     string
	openHistory  func(workload, system string) (io.WriteCloser, error)
	injectors    func(system string) chaos.Injectors
	shard        *ShardConfig // nil unless this runner runs one shard
	limits       results.Limits
	resources    *Resources
}

// Option configures a Runner.
type Option func(*Runner) error

// Interval sets the sample interval; default 1s, minimum 100ms.
func Interval(d time.Duration) Option {
	return func(r *Runner) error {
		if d < 100*time.Millisecond {
			return errors.New("sample interval must be at least 100ms")
		}
		r.interval = d
		return nil
	}
}

// Duration overrides every workload's measured duration (0 = keep the
// workload's own).
func Duration(d time.Duration) Option {
	return func(r *Runner) error {
		if d < 0 {
			return errors.New("duration must not be negative")
		}
		r.duration = d
		return nil
	}
}

// Warmup overrides every workload's warm-up duration; 0 is a valid
// override meaning no warm-up.
func Warmup(d time.Duration) Option {
	return func(r *Runner) error {
		if d < 0 {
			return errors.New("warm-up must not be negative")
		}
		r.warmup, r.warmupSet = d, true
		return nil
	}
}

// ReadyTimeout bounds the wait for every subscription to read every
// partition before load starts; default 60s.
func ReadyTimeout(d time.Duration) Option {
	return func(r *Runner) error { r.readyTimeout = d; return nil }
}

// DrainTimeout bounds the wait, after producers stop, for consumers to
// receive every acknowledged message; default 30s. Messages still missing
// then are counted as lost.
func DrainTimeout(d time.Duration) Option {
	return func(r *Runner) error { r.drainTimeout = d; return nil }
}

// KeepTopics leaves the run's topics in place after the run instead of
// deleting them.
func KeepTopics() Option {
	return func(r *Runner) error { r.keepTopics = true; return nil }
}

// Seed fixes the seed of key choice and payload generation; default 1, so
// two runs of a workload send the same keys.
func Seed(seed uint64) Option {
	return func(r *Runner) error { r.seed = seed; return nil }
}

// Logger sets the logger for phase changes and errors; default
// slog.Default().
func Logger(l *slog.Logger) Option {
	return func(r *Runner) error { r.logger = l; return nil }
}

// OnProgress sets a function called once per interval with the live
// figures. It is called from the runner's sampling goroutine and must not
// block for long.
func OnProgress(f func(Progress)) Option {
	return func(r *Runner) error { r.progress = f; return nil }
}

// History makes every run record its history (docs/history.md). open is
// called once per run with the run's workload and system names and returns
// where to write, or nil for no history; the runner closes it when the run
// ends.
func History(open func(workload, system string) (io.WriteCloser, error)) Option {
	return func(r *Runner) error { r.openHistory = open; return nil }
}

// Injectors gives the runner, per system, what carries out the network and
// process faults of workloads with a chaos schedule: the proxies the
// system's connections go through and the broker processes it may kill.
// The runner adds its own client faults. Without it, only client faults
// (crash) can run.
func Injectors(f func(system string) chaos.Injectors) Option {
	return func(r *Runner) error { r.injectors = f; return nil }
}

// Tool records the tool name and version and the VCS revision in results.
func Tool(nameVersion, revision string) Option {
	return func(r *Runner) error { r.tool, r.revision = nameVersion, revision; return nil }
}

// StatusLimits sets the bounds of the status rules (results.Judge);
// default results.DefaultLimits().
func StatusLimits(l results.Limits) Option {
	return func(r *Runner) error {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("status limits: %w", err)
		}
		r.limits = l
		return nil
	}
}

// Track makes every run record in res the topics it has created and not
// yet deleted, so that a program interrupted mid-run can say what it
// leaves behind.
func Track(res *Resources) Option {
	return func(r *Runner) error { r.resources = res; return nil }
}

// New returns a Runner.
func New(opts ...Option) (*Runner, error) {
	r := &Runner{
		interval:     time.Second,
		readyTimeout: 60 * time.Second,
		drainTimeout: 30 * time.Second,
		seed:         1,
		logger:       slog.Default(),
		tool:         "brokerbench",
		limits:       results.DefaultLimits(),
	}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}
