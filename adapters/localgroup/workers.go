package localgroup

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Worker consumes one partition for a member, on a goroutine of its own.
type Worker interface {
	// Run consumes until Stop; [Workers] runs it on a goroutine of its own.
	Run()
	// Stop asks Run to return once the delivery in hand is handled and
	// acknowledged. It is called once.
	Stop()
	// Exited is closed when Run has returned.
	Exited() <-chan struct{}
}

// Workers is the partition bookkeeping of a [Member] whose partitions each
// have a [Worker] (RabbitMQ: a channel per partition queue; NATS: a fetch
// loop per durable). Embedded in the member, it provides Assigned,
// Assign, Revoke and RecordErr. Set the function fields before the member
// joins a group; they must not change afterwards.
type Workers[W interface {
	comparable
	Worker
}] struct {
	// Start opens partition p's worker, not yet running.
	Start func(ctx context.Context, p int32) (W, error)
	// Release, if set, runs after a worker revoked gracefully has
	// returned, e.g. to close its channel.
	Release func(W)
	// Crashed reports whether the member crashed: nothing is started,
	// waited for or reported then.
	Crashed func() bool
	// OnAssigned and OnRevoked are the consumer's callbacks; nil for none.
	OnAssigned, OnRevoked func([]int32)

	mu   sync.Mutex
	m    map[int32]W
	errs []error
}

// Assigned implements Member.
func (ws *Workers[W]) Assigned() []int32 {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return Partitions(ws.m)
}

// RecordErr implements Member.
func (ws *Workers[W]) RecordErr(err error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.errs = append(ws.errs, err)
}

// Err joins the errors recorded so far, for the member's Close.
func (ws *Workers[W]) Err() error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return errors.Join(ws.errs...)
}

// Assign implements Member: it starts a worker for every partition of ps
// without one, reports the started ones (OnAssigned) and only then runs
// them, so that no delivery of a partition precedes its report.
func (ws *Workers[W]) Assign(ctx context.Context, ps []int32) error {
	if ws.Crashed() {
		return nil
	}
	var started []int32
	var errs []error
	for _, p := range ps {
		ws.mu.Lock()
		_, have := ws.m[p]
		ws.mu.Unlock()
		if have {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		w, err := ws.Start(ctx, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", p, err))
			continue
		}
		ws.mu.Lock()
		if ws.m == nil {
			ws.m = make(map[int32]W)
		}
		ws.m[p] = w
		ws.mu.Unlock()
		started = append(started, p)
	}
	if len(started) > 0 && ws.OnAssigned != nil {
		ws.OnAssigned(started)
	}
	ws.mu.Lock()
	for _, p := range started {
		go ws.m[p].Run()
	}
	ws.mu.Unlock()
	return errors.Join(errs...)
}

// Revoke implements Member: it stops the workers of ps; gracefully it
// waits for them to return, releases them and reports the partitions
// (OnRevoked). After a crash it does not wait, since a crashed process
// leaves its handlers behind.
func (ws *Workers[W]) Revoke(ps []int32, graceful bool) {
	var stopped []W
	var revoked []int32
	ws.mu.Lock()
	for _, p := range ps {
		if w, ok := ws.m[p]; ok {
			delete(ws.m, p)
			stopped = append(stopped, w)
			revoked = append(revoked, p)
		}
	}
	ws.mu.Unlock()
	for _, w := range stopped {
		w.Stop()
	}
	if len(stopped) == 0 || ws.Crashed() {
		return
	}
	for _, w := range stopped {
		<-w.Exited()
		if ws.Release != nil {
			ws.Release(w)
		}
	}
	if graceful && ws.OnRevoked != nil {
		ws.OnRevoked(revoked)
	}
}

// Lost is called by partition p's worker w when it ended on its own while
// assigned (its queue deleted, its channel closed by the broker): if w is
// still p's worker, it is dropped, err recorded and p reported revoked.
func (ws *Workers[W]) Lost(p int32, w W, err error) {
	ws.mu.Lock()
	mine := ws.m[p] == w
	if mine {
		delete(ws.m, p)
		ws.errs = append(ws.errs, fmt.Errorf("partition %d lost: %w", p, err))
	}
	ws.mu.Unlock()
	if mine && ws.OnRevoked != nil {
		ws.OnRevoked([]int32{p})
	}
}
