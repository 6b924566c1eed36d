package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/workloads"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// display shows run progress: a live bar per run on a terminal, or one
// plain line per sample interval otherwise (CI logs, pipes).
type display struct {
	w    io.Writer
	live bool

	mu   sync.Mutex
	p    *mpb.Progress
	bar  *mpb.Bar
	text atomic.Value // string: latest figures for the live bar
}

func newDisplay(w io.Writer, allowLive bool) *display {
	d := &display{w: w, live: allowLive && isTerminal(w)}
	if d.live {
		d.p = mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(200*time.Millisecond), mpb.WithWidth(24))
	} else {
		// Progress lines come from the runner's sampler while the logger
		// writes from other goroutines: one lock keeps their lines whole
		// (and a bytes.Buffer in tests race-free).
		d.w = &lockedWriter{w: w}
	}
	d.text.Store("")
	return d
}

// logWriter is where log lines go: through the progress container on a
// terminal, so they print above the bars instead of through them.
func (d *display) logWriter() io.Writer {
	if d.live {
		return d.p
	}
	return d.w
}

func (d *display) start(w workloads.Workload, system string) {
	if !d.live {
		fmt.Fprintf(d.w, "== %s on %s\n", w.Name, system)
		return
	}
	total := int64((w.WarmupDuration + w.TestDuration) / time.Second)
	d.mu.Lock()
	d.text.Store("starting")
	d.bar = d.p.AddBar(max(total, 1),
		mpb.PrependDecorators(decor.Name(fmt.Sprintf("%s @ %s ", w.Name, system))),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return d.text.Load().(string) })),
	)
	d.mu.Unlock()
}

func (d *display) progress(p runner.Progress) {
	line := fmt.Sprintf("%-13s pub %8.0f msg/s  cons %8.0f msg/s  pub p99 %7.2f ms  e2e p99 %7.2f ms  backlog %d",
		p.Phase, p.PublishRate, p.ConsumeRate, p.PublishP99, p.EndToEndP99, p.Backlog)
	if p.Errors > 0 {
		line += fmt.Sprintf("  errors %d", p.Errors)
	}
	if !d.live {
		fmt.Fprintf(d.w, "%6.1fs %s\n", p.Elapsed.Seconds(), line)
		return
	}
	d.text.Store(line)
	d.mu.Lock()
	if d.bar != nil {
		d.bar.SetCurrent(int64(p.Elapsed / time.Second))
	}
	d.mu.Unlock()
}

func (d *display) finish(r *results.Result) {
	if !d.live {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar != nil {
		d.text.Store(string(r.Status))
		d.bar.SetTotal(-1, true)
		d.bar = nil
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (d *display) close() {
	if d.live {
		d.p.Wait()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
