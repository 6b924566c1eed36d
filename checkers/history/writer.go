package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// Writer records a history as JSON Lines. It assigns each event's index and
// time under one lock, so the file's order, indices and times agree: the
// event written first has the lower index and a time no later.
//
// All methods are safe for concurrent use. They are built for the runner's
// hot path: encoding appends into a reused buffer (no allocation per event
// once the buffer has grown) and output is buffered. Methods do not return
// errors; the first write error is kept and returned by Err, Flush and Close,
// as bufio.Writer does, so a failed disk never slows or breaks the run.
//
// Values must be unique per message: a client that retries a message under
// its own control after info sends a new value from a new process id.
type Writer struct {
	mu      sync.Mutex
	bw      *bufio.Writer
	scratch []byte
	runs    []string // PollOK: keys seen, to detect ungrouped records
	order   []int    // PollOK: record indices sorted by key
	index   int64
	now     func() int64
	err     error
	closed  bool
}

// WriterOption configures a Writer.
type WriterOption func(*Writer)

// WithClock makes the Writer stamp events with now() instead of the
// nanoseconds elapsed on the monotonic clock since NewWriter. now is called
// under the Writer's lock and must be non-decreasing; tests and generators use
// it for reproducible times.
func WithClock(now func() int64) WriterOption {
	return func(w *Writer) { w.now = now }
}

// NewWriter returns a Writer to out that first writes h as the header line
// (h.Version is set to Version). The Writer buffers 64 KiB; call Close (or
// Flush) to push the rest to out. It does not close out.
func NewWriter(out io.Writer, h Header, opts ...WriterOption) *Writer {
	start := time.Now()
	w := &Writer{
		bw:      bufio.NewWriterSize(out, 1<<16),
		scratch: make([]byte, 0, 512),
		now:     func() int64 { return int64(time.Since(start)) },
	}
	for _, o := range opts {
		o(w)
	}
	h.Version = Version
	b, err := json.Marshal(h)
	if err != nil {
		w.err = fmt.Errorf("encode history header: %w", err)
		return w
	}
	b = append(b, '\n')
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("write history header: %w", err)
	}
	return w
}

// Send records the invocation of a send of value to the partition key
// (a topic-partition such as "orders/3").
func (w *Writer) Send(process int, key string, value int64) {
	w.op(process, Invoke, Send, key, value, -1)
}

// SendOK records that the send of value was acknowledged at offset.
func (w *Writer) SendOK(process int, key string, value, offset int64) {
	w.op(process, OK, Send, key, value, offset)
}

// SendFail records that the send of value definitely did not happen.
func (w *Writer) SendFail(process int, key string, value int64) {
	w.op(process, Fail, Send, key, value, -1)
}

// SendInfo records that the outcome of the send of value is unknown (a
// timeout, a lost connection). The process must not be reused afterwards.
func (w *Writer) SendInfo(process int, key string, value int64) {
	w.op(process, Info, Send, key, value, -1)
}

// Poll records the invocation of a poll.
func (w *Writer) Poll(process int) { w.op(process, Invoke, Poll, "", 0, -1) }

// PollOK records the messages a poll returned. Records of one key must be in
// the order they were delivered; records of different keys may be
// interleaved (they are grouped by key on output). recs is not retained.
func (w *Writer) PollOK(process int, recs []Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.begin() {
		return
	}
	b := w.appendHead(w.scratch[:0], process, OK, Poll)
	b = append(b, `,"value":{`...)
	b = w.appendRecords(b, recs)
	b = append(b, "}}\n"...)
	w.flushLine(b)
}

// Assign records that the process's assigned partitions are now keys (after a
// rebalance or seek); order checks restart for the process.
func (w *Writer) Assign(process int, keys []string) { w.AssignGroup(process, "", keys) }

// AssignGroup is Assign for a member of consumer group group: the process
// belongs to it from now on, for the stale-offset check.
func (w *Writer) AssignGroup(process int, group string, keys []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.begin() {
		return
	}
	b := w.appendHead(w.scratch[:0], process, OK, Assign)
	if group != "" {
		b = append(b, `,"group":`...)
		b = appendString(b, group)
	}
	b = append(b, `,"value":[`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
	}
	b = append(b, "]}\n"...)
	w.flushLine(b)
}

// Commit records offsets the process committed successfully for its
// consumer group (the next offset to consume, per key). group may be "":
// the history's consumers are then one group.
func (w *Writer) Commit(process int, group string, offsets []KeyOffset) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.begin() {
		return
	}
	b := w.appendHead(w.scratch[:0], process, OK, Commit)
	if group != "" {
		b = append(b, `,"group":`...)
		b = appendString(b, group)
	}
	b = append(b, `,"value":{`...)
	for i, ko := range offsets {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, ko.Key)
		b = append(b, ':')
		b = appendInt(b, ko.Offset)
	}
	b = append(b, "}}\n"...)
	w.flushLine(b)
}

// Enqueue records the invocation of a publish of value to queue key.
func (w *Writer) Enqueue(process int, key string, value int64) {
	w.op(process, Invoke, Enqueue, key, value, -1)
}

// EnqueueOK records that the broker confirmed the publish of value.
func (w *Writer) EnqueueOK(process int, key string, value int64) {
	w.op(process, OK, Enqueue, key, value, -1)
}

// EnqueueFail records that the publish of value definitely did not happen
// (a negative confirm).
func (w *Writer) EnqueueFail(process int, key string, value int64) {
	w.op(process, Fail, Enqueue, key, value, -1)
}

// EnqueueInfo records that the outcome of the publish of value is unknown.
func (w *Writer) EnqueueInfo(process int, key string, value int64) {
	w.op(process, Info, Enqueue, key, value, -1)
}

// DequeueOK records the delivery of value from queue key.
func (w *Writer) DequeueOK(process int, key string, value int64) {
	w.op(process, OK, Dequeue, key, value, -1)
}

// DequeueInfo records that a consumer process crashed: the deliveries it
// held unsettled are abandoned, so the broker must redeliver them.
func (w *Writer) DequeueInfo(process int) {
	w.op(process, Info, Dequeue, "", 0, -1)
}

// Ack records that the consumer acknowledged value (removed from key).
func (w *Writer) Ack(process int, key string, value int64) {
	w.op(process, OK, Ack, key, value, -1)
}

// Nack records that the consumer returned value to key for redelivery.
func (w *Writer) Nack(process int, key string, value int64) {
	w.op(process, OK, Nack, key, value, -1)
}

// Reject records that the consumer dead-lettered value.
func (w *Writer) Reject(process int, key string, value int64) {
	w.op(process, OK, Reject, key, value, -1)
}

// NemesisStart records the start of a fault, described in free text
// ("partition 127.0.0.1:9092 from clients").
func (w *Writer) NemesisStart(fault string) { w.nemesis(Start, fault) }

// NemesisStop records the end of a fault started with NemesisStart.
func (w *Writer) NemesisStop(fault string) { w.nemesis(Stop, fault) }

// Err returns the first error met while writing, or nil.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Flush writes buffered events to the underlying writer.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = fmt.Errorf("flush history: %w", err)
		}
	}
	return w.err
}

// Close flushes and stops the Writer; later events are dropped and Err
// reports ErrClosed. Close returns the first write error, if any. It does not
// close the underlying writer.
func (w *Writer) Close() error {
	err := w.Flush()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return err
}

// op writes a one-message event: send, enqueue, dequeue, ack, nack, reject,
// or a poll invoke when key is "". offset < 0 means none.
func (w *Writer) op(process int, t Type, f Func, key string, value, offset int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.begin() {
		return
	}
	b := w.appendHead(w.scratch[:0], process, t, f)
	if key != "" {
		b = append(b, `,"key":`...)
		b = appendString(b, key)
		b = append(b, `,"value":`...)
		b = appendInt(b, value)
	}
	if offset >= 0 {
		b = append(b, `,"offset":`...)
		b = appendInt(b, offset)
	}
	b = append(b, "}\n"...)
	w.flushLine(b)
}

func (w *Writer) nemesis(f Func, fault string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.begin() {
		return
	}
	b := w.appendHead(w.scratch[:0], NemesisProcess, Info, f)
	b = append(b, `,"value":`...)
	b = appendString(b, fault)
	b = append(b, "}\n"...)
	w.flushLine(b)
}

// begin reports whether an event may be written. Called with mu held.
func (w *Writer) begin() bool {
	if w.closed {
		if w.err == nil {
			w.err = ErrClosed
		}
		return false
	}
	return w.err == nil
}

// flushLine hands an encoded line to the buffer and keeps the grown scratch
// buffer for the next event. Called with mu held.
func (w *Writer) flushLine(b []byte) {
	w.scratch = b
	w.index++
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("write history event %d: %w", w.index-1, err)
	}
}

func (w *Writer) appendHead(b []byte, process int, t Type, f Func) []byte {
	b = append(b, `{"index":`...)
	b = appendInt(b, w.index)
	b = append(b, `,"time":`...)
	b = appendInt(b, w.now())
	b = append(b, `,"process":`...)
	if process == NemesisProcess {
		b = append(b, `"nemesis"`...)
	} else {
		b = appendInt(b, int64(process))
	}
	b = append(b, `,"type":"`...)
	b = append(b, typeNames[t]...)
	b = append(b, `","f":"`...)
	b = append(b, funcNames[f]...)
	return append(b, '"')
}

// appendRecords writes {key:[[o,v],...],...} contents, grouping records by
// key while keeping each key's delivery order. Records usually arrive grouped
// (one fetch partition after another), which is checked without sorting.
func (w *Writer) appendRecords(b []byte, recs []Record) []byte {
	if !w.grouped(recs) {
		w.order = w.order[:0]
		for i := range recs {
			w.order = append(w.order, i)
		}
		slices.SortStableFunc(w.order, func(i, j int) int { return strings.Compare(recs[i].Key, recs[j].Key) })
		for n, i := range w.order {
			b = appendRecord(b, recs, i, n == 0 || recs[w.order[n-1]].Key != recs[i].Key, n+1 == len(w.order) || recs[w.order[n+1]].Key != recs[i].Key)
		}
		return b
	}
	for i := range recs {
		b = appendRecord(b, recs, i, i == 0 || recs[i-1].Key != recs[i].Key, i+1 == len(recs) || recs[i+1].Key != recs[i].Key)
	}
	return b
}

func appendRecord(b []byte, recs []Record, i int, first, last bool) []byte {
	if first {
		if len(b) > 0 && b[len(b)-1] == ']' {
			b = append(b, ',')
		}
		b = appendString(b, recs[i].Key)
		b = append(b, ":["...)
	} else {
		b = append(b, ',')
	}
	b = append(b, '[')
	b = appendInt(b, recs[i].Offset)
	b = append(b, ',')
	b = appendInt(b, recs[i].Value)
	b = append(b, ']')
	if last {
		b = append(b, ']')
	}
	return b
}

// grouped reports whether every key's records are contiguous.
func (w *Writer) grouped(recs []Record) bool {
	w.runs = w.runs[:0]
	for i := range recs {
		if i > 0 && recs[i].Key == recs[i-1].Key {
			continue
		}
		if slices.Contains(w.runs, recs[i].Key) || len(w.runs) > 64 {
			return false
		}
		w.runs = append(w.runs, recs[i].Key)
	}
	return true
}
