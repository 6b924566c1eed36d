// Package checkers decides whether a recorded history (package
// checkers/history) kept the delivery promises of its guarantee.
//
// Check reads a history and runs the checker of its model: the log checker
// (Kafka-like partitioned logs: lost writes, duplicates, offset
// inconsistencies, consumer and producer order, and linearizability of sends
// with porcupine) or the queue checker (Jepsen's total-queue semantics plus
// FIFO where a queue promises it). The outcome is a Verdict with three values
// (Valid, Invalid, Unknown) and per-anomaly counts and examples; the anomaly
// names form a stable catalog (Catalog) documented in docs/checkers.md.
//
// A history is checked as complete: its end is taken as after the final
// drain, so an acknowledged message never delivered by then is lost.
package checkers

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/brokerbench/brokerbench/checkers/history"
)

// Config tunes a check. The zero value is usable: Default fills it.
type Config struct {
	// Model overrides the header's model; ModelUnknown uses the header or
	// infers it from the first client operation.
	Model history.Model
	// Guarantee overrides the header's guarantee; GuaranteeUnknown uses the
	// header, else at-least-once.
	Guarantee history.Guarantee
	// LinearizabilityTimeout bounds the porcupine search over all
	// partitions; when it runs out the verdict is Unknown. Default 30s.
	LinearizabilityTimeout time.Duration
	// VisualizationDir receives a porcupine HTML file per nonlinearizable
	// partition; "" writes none.
	VisualizationDir string
	// MaxExamples bounds the examples kept per anomaly. Default 10.
	MaxExamples int
	_           struct{}
}

// Default returns c with zero fields set to their defaults.
func (c Config) Default() Config {
	if c.LinearizabilityTimeout == 0 {
		c.LinearizabilityTimeout = 30 * time.Second
	}
	if c.MaxExamples == 0 {
		c.MaxExamples = 10
	}
	return c
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	if c.LinearizabilityTimeout < 0 {
		return fmt.Errorf("linearizability timeout %v: must be positive", c.LinearizabilityTimeout)
	}
	if c.MaxExamples < 0 {
		return fmt.Errorf("max examples %d: must be >= 0", c.MaxExamples)
	}
	return nil
}

// checker is one model's checker: it ingests events in history order, then
// judges them.
type checker interface {
	add(e *history.Event) error
	finish(ctx context.Context, r *report) error
}

// CheckFile checks the history in the file at path. Errors from reading the
// file, including malformed lines (history.ErrMalformed, with line numbers),
// are returned as errors; anomalies are not errors but part of the Verdict.
func CheckFile(ctx context.Context, path string, cfg Config) (*Verdict, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open history: %w", err)
	}
	defer f.Close()
	return Check(ctx, history.NewReader(f, path), cfg)
}

// Check reads the whole history from r and checks it. It is safe to run
// several Checks concurrently; each uses only its own state.
func Check(ctx context.Context, r *history.Reader, cfg Config) (*Verdict, error) {
	start := time.Now()
	cfg = cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h, err := r.Header()
	if err != nil {
		return nil, err
	}
	g := cfg.Guarantee
	if g == history.GuaranteeUnknown {
		g = guaranteeOf(h.Guarantee.String())
	}
	v := &Verdict{Guarantee: g.String(), Anomalies: map[string]*Anomaly{}}
	c, err := ingest(ctx, r, cfg, v)
	if err != nil {
		return nil, err
	}
	rep := &report{v: v, maxExamples: cfg.MaxExamples}
	if err := c.finish(ctx, rep); err != nil {
		return nil, err
	}
	rep.finish()
	v.CheckNanos = int64(time.Since(start))
	return v, nil
}

// ingest streams events into the checker of the history's model. Nemesis
// events read before the first client operation are held until the model is
// known.
func ingest(ctx context.Context, r *history.Reader, cfg Config, v *Verdict) (checker, error) {
	var c checker
	var held []history.Event
	for {
		if v.Events&0xfff == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("check history: %w", ctx.Err())
		}
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		v.Events++
		if e.IsNemesis() {
			v.Stats.Nemesis++
		}
		if c == nil {
			m := cfg.Model
			if m == history.ModelUnknown {
				m = r.Model()
			}
			if m == history.ModelUnknown {
				held = append(held, e)
				continue
			}
			c = newChecker(m, cfg, v, r.Name())
			for i := range held {
				if err := c.add(&held[i]); err != nil {
					return nil, err
				}
			}
			held = nil
		}
		if fm := e.F.Model(); cfg.Model != history.ModelUnknown && fm != history.ModelUnknown && fm != cfg.Model {
			return nil, &history.LineError{Name: r.Name(), Line: e.Line, Field: "f",
				Err: fmt.Errorf("%q is a %s-model operation but --model is %s", e.F, fm, cfg.Model)}
		}
		if err := c.add(&e); err != nil {
			return nil, err
		}
	}
	if c == nil {
		m := cfg.Model
		if m == history.ModelUnknown {
			m = r.Model()
		}
		if m == history.ModelUnknown {
			return nil, ErrNoModel
		}
		c = newChecker(m, cfg, v, r.Name())
	}
	return c, nil
}

func newChecker(m history.Model, cfg Config, v *Verdict, name string) checker {
	v.Model = m.String()
	if m == history.ModelQueue {
		return newQueueChecker(name)
	}
	return newLogChecker(cfg, name)
}

func guaranteeOf(s string) history.Guarantee {
	g, err := history.ParseGuarantee(s)
	if err != nil {
		return history.AtLeastOnce
	}
	return g
}

// inconsistent returns the error for a history whose events contradict each
// other at line.
func inconsistent(name string, line int, field, format string, args ...any) error {
	return &history.LineError{Name: name, Line: line, Field: field,
		Err: fmt.Errorf("%w: %s", ErrInconsistent, fmt.Sprintf(format, args...))}
}
