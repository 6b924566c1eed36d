package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/brokerbench/brokerbench/adapters"
)

// finalRead ends a recorded log-model run as Jepsen's Kafka test ends: a
// fresh consumer, in a subscription of its own so no group offset applies,
// reads every partition from the earliest offset to the end, and every
// record it sees goes into the history under a new process. After it, a
// record that no poll returned is not in the log, so the checker's losses
// and skips are judged against what the broker actually stores rather
// than against what the run's consumers happened to read.
//
// The end of a partition is a fence: a probe sent after the drain, whose
// acknowledged offset is the partition's end (producers have stopped). A
// final read that does not reach every fence within the drain timeout is
// a warning in the result: the history then under-reports what is stored.
func (r *run) finalRead(ctx context.Context) {
	if r.hist == nil || !r.hist.log {
		return
	}
	if sh := r.r.shard; sh != nil && sh.Segment.Index != sh.Segment.Count-1 {
		// One final read per run: the last shard's, which has a producer
		// of every topic to send the fences (workloads.Segment.Share).
		// Every shard's producers stopped before the drain barrier.
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.r.drainTimeout)
	defer cancel()
	for t := range r.topics {
		if err := r.finalReadTopic(ctx, t); err != nil {
			msg := fmt.Sprintf("final read of %s: %v; the history may miss records the broker stores", r.topics[t].name, err)
			r.log.Warn(msg)
			r.mu.Lock()
			r.warnings = append(r.warnings, msg)
			r.mu.Unlock()
		}
	}
}

// finalReader is the handler state of one topic's final read.
type finalReader struct {
	run   *run
	topic int
	proc  int
	mu    sync.Mutex
	fence []int64 // per partition: the fence's offset
	left  int     // partitions whose fence has not been read
	done  chan struct{}
}

func (r *run) finalReadTopic(ctx context.Context, t int) (err error) {
	probe := make([]byte, HeaderSize)
	putHeader(probe, header{probe: true})
	fence, err := r.probeTopic(ctx, t, probe)
	if err != nil {
		return fmt.Errorf("send end-of-partition fence: %w", err)
	}
	ts := r.topics[t]
	f := &finalReader{run: r, topic: t, proc: r.hist.newProcess(), fence: fence, left: len(fence), done: make(chan struct{})}
	group := ts.name + "-final-read"
	r.hist.assigned(f.proc, group, ts.keys)
	c, err := r.sys.NewConsumer(ctx, adapters.ConsumerConfig{
		ID: ts.name + "-final", Topic: ts.name, Partitions: len(fence),
		Subscription: group, Start: adapters.StartEarliest,
		Commit: adapters.CommitInterval, Handler: f.handle,
	})
	if err != nil {
		return fmt.Errorf("start reader: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.r.drainTimeout)
		defer cancel()
		if cerr := c.Close(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close reader: %w", cerr))
		}
	}()
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("partitions %v not read to their end: %w", f.unread(), ctx.Err())
	}
}

// handle records each message of the run in the history and notes fences
// reached. Probes, the fences among them, are not messages of the history.
func (f *finalReader) handle(d *adapters.Delivery) {
	h, ok := f.run.parseDelivery(d)
	if ok && !h.probe {
		f.run.hist.delivered(f.proc, f.run.topics[f.topic].keys[d.Partition], d.Offset, messageValue(h.producer, h.seq))
	}
	if d.Partition < 0 || int(d.Partition) >= len(f.fence) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := d.Partition; f.fence[p] >= 0 && d.Offset >= f.fence[p] {
		f.fence[p] = -1
		if f.left--; f.left == 0 {
			close(f.done)
		}
	}
}

// unread lists the partitions whose fence was not read.
func (f *finalReader) unread() []int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int32
	for p, o := range f.fence {
		if o >= 0 {
			out = append(out, int32(p))
		}
	}
	return out
}
