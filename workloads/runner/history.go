package runner

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/checkers/history"
)

// recorder writes a run's history (docs/history.md) as the run happens:
// every send's invocation and outcome, every delivery, every assignment
// change. It is nil when the run records no history; every method is then
// a no-op, so the hot path pays one nil check.
//
// Systems with offsets and partition ownership are recorded in the log
// model (send/poll/assign); the others in the queue model
// (enqueue/dequeue); see run.openHistory.
//
// Processes: each producer client is one process with many sends in
// flight, matched to their completions by value (docs/history.md); a
// send whose outcome is unknown (info) does not end the process, since
// the client carries on, but a client replaced after a crash is a new
// process. Each start of a consumer is a new process.
type recorder struct {
	w     *history.Writer
	out   io.Closer
	log   bool // log model; queue model otherwise
	procs int64
	mu    sync.Mutex // guards procs
}

// newProcess returns an unused process id.
func (h *recorder) newProcess() int {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.procs++
	return int(h.procs)
}

// messageValue is the history's unique integer for a message: producer id
// and sequence number, below 2^53 so JSON readers keep it exact.
func messageValue(producer uint32, seq uint64) int64 {
	return int64(producer)<<40 | int64(seq&(1<<40-1))
}

func (h *recorder) send(proc int, key string, value int64) {
	switch {
	case h == nil:
	case h.log:
		h.w.Send(proc, key, value)
	default:
		h.w.Enqueue(proc, key, value)
	}
}

// sendDone records a send's outcome. Errors are recorded as info, never
// fail: a client cannot know that a timed-out send did not land.
func (h *recorder) sendDone(proc int, key string, value, offset int64, err error) {
	switch {
	case h == nil:
	case err != nil && h.log:
		h.w.SendInfo(proc, key, value)
	case err != nil:
		h.w.EnqueueInfo(proc, key, value)
	case h.log:
		h.w.SendOK(proc, key, value, offset)
	default:
		h.w.EnqueueOK(proc, key, value)
	}
}

func (h *recorder) delivered(proc int, key string, offset, value int64) {
	switch {
	case h == nil:
	case h.log:
		h.w.PollOK(proc, []history.Record{{Key: key, Offset: offset, Value: value}})
	default:
		h.w.DequeueOK(proc, key, value)
	}
}

// disposed records what a queue consumer did with a delivery. A release
// of a delivery at the delivery limit is recorded as a reject: the system
// dead-letters (or drops) the message instead of redelivering it, so no
// redelivery is to be expected.
func (h *recorder) disposed(proc int, key string, value int64, d *adapters.Delivery, limit int) {
	switch {
	case h == nil || h.log:
	case d.Disposition == adapters.Release && limit > 0 && d.DeliveryCount >= limit:
		h.w.Reject(proc, key, value)
	case d.Disposition == adapters.Release:
		h.w.Nack(proc, key, value)
	case d.Disposition == adapters.Reject:
		h.w.Reject(proc, key, value)
	default:
		h.w.Ack(proc, key, value)
	}
}

// crashed records that a queue consumer's process ended without settling
// what it held (a crash, a lost connection): the system must redeliver it.
func (h *recorder) crashed(proc int) {
	if h != nil && !h.log {
		h.w.DequeueInfo(proc)
	}
}

// assigned records a consumer's whole assignment in group.
func (h *recorder) assigned(proc int, group string, keys []string) {
	if h != nil && h.log {
		h.w.AssignGroup(proc, group, keys)
	}
}

// committed records offsets a consumer of group committed successfully,
// per partition of a topic whose partition keys are keys.
func (h *recorder) committed(proc int, group string, keys []string, offsets map[int32]int64) {
	if h == nil || !h.log {
		return
	}
	kos := make([]history.KeyOffset, 0, len(offsets))
	for p, o := range offsets {
		if p >= 0 && int(p) < len(keys) {
			kos = append(kos, history.KeyOffset{Key: keys[p], Offset: o})
		}
	}
	slices.SortFunc(kos, func(a, b history.KeyOffset) int { return strings.Compare(a.Key, b.Key) })
	h.w.Commit(proc, group, kos)
}

func (h *recorder) close() error {
	if h == nil {
		return nil
	}
	err := h.w.Close()
	if cerr := h.out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}

// partitionKeys names a topic's partitions as histories do: "topic/3".
func partitionKeys(topic string, partitions int) []string {
	keys := make([]string, partitions)
	for p := range keys {
		keys[p] = topic + "/" + strconv.Itoa(p)
	}
	return keys
}
