package runner

import (
	"context"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// Supervision: an adapter that does not reconnect (adapters.Stopper) ends a
// consumer when its connection is lost, under a network fault for
// instance. An application would restart it, so the runner does: it
// starts a replacement incarnation (a new history process) and keeps
// trying, once a second, while the fault lasts. Without this, messages the
// broker kept safely would be counted lost only because nobody was left to
// read them.

// supervise watches inst, the current incarnation of c.
func (r *run) supervise(c *consumer, inst adapters.Consumer) {
	st, ok := inst.(adapters.Stopper)
	if !ok {
		return
	}
	r.superWG.Go(func() {
		select {
		case <-st.Stopped():
		case <-r.superDone:
			return
		}
		r.crashMu.Lock()
		current := c.c == inst
		if current {
			c.c = nil
		}
		r.crashMu.Unlock()
		if !current {
			return // closed, crashed or replaced on purpose
		}
		r.event("consumer-stopped", c.id, nil, "connection lost; restarting")
		c.abandoned()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = inst.Close(ctx) // releases what is left; its errors say what we know
		cancel()
		r.restart(c)
	})
}

// restart starts c again, retrying until it succeeds or the run ends.
func (r *run) restart(c *consumer) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r.crashMu.Lock()
		err := c.start(context.Background(), r)
		r.crashMu.Unlock()
		if err == nil {
			r.event("consumer-join", c.id, nil, "after connection loss")
			return
		}
		r.log.Warn("restart consumer", "consumer", c.id, "err", err)
		select {
		case <-tick.C:
		case <-r.superDone:
			return
		}
	}
}

// stopSupervising ends every watcher; teardown calls it before closing
// consumers, so none is restarted behind its back.
func (r *run) stopSupervising() {
	close(r.superDone)
	r.superWG.Wait()
}
