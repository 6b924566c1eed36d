// Package history defines brokerbench's operation history: a JSON Lines file,
// one event per line, documented as a public, versioned format in
// docs/history.md.
//
// The main types are Event (one line), Header (the optional first line),
// Reader (a streaming, validating decoder whose errors carry line numbers)
// and Writer (the goroutine-safe, allocation-free recorder the runner calls
// on its hot path). The checkers package consumes histories.
package history

import (
	"fmt"
)

// Version is the history format version this package reads and writes. A
// reader rejects a header with a higher version.
const Version = 1

// Model is the kind of system a history records.
type Model uint8

// Models.
const (
	ModelUnknown Model = iota // not stated; inferred from the operations
	ModelLog                  // partitioned log (Kafka): send, poll, assign, commit
	ModelQueue                // queue (RabbitMQ, SQS, competing consumers): enqueue, dequeue, ack, nack, reject
)

var modelNames = [...]string{ModelUnknown: "", ModelLog: "log", ModelQueue: "queue"}

// String returns the model's name as written in a header ("log", "queue"),
// or "" for ModelUnknown.
func (m Model) String() string {
	if int(m) < len(modelNames) {
		return modelNames[m]
	}
	return fmt.Sprintf("Model(%d)", uint8(m))
}

// ParseModel parses "log" or "queue".
func ParseModel(s string) (Model, error) {
	switch s {
	case "log":
		return ModelLog, nil
	case "queue":
		return ModelQueue, nil
	}
	return ModelUnknown, fmt.Errorf("want log or queue, got %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (m Model) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Model) UnmarshalText(b []byte) error {
	v, err := ParseModel(string(b))
	*m = v
	return err
}

// Guarantee is the delivery guarantee a history is checked against.
type Guarantee uint8

// Guarantees. The zero value means "not stated"; checkers then default to
// AtLeastOnce.
const (
	GuaranteeUnknown Guarantee = iota
	AtLeastOnce                // no acknowledged message lost; duplicates counted, allowed
	ExactlyOnce                // no loss, no duplicate
	AtMostOnce                 // no duplicate; losses counted, allowed
)

var guaranteeNames = [...]string{GuaranteeUnknown: "", AtLeastOnce: "at-least-once", ExactlyOnce: "exactly-once", AtMostOnce: "at-most-once"}

// String returns the guarantee's name ("at-least-once", ...), or "" when
// unknown.
func (g Guarantee) String() string {
	if int(g) < len(guaranteeNames) {
		return guaranteeNames[g]
	}
	return fmt.Sprintf("Guarantee(%d)", uint8(g))
}

// ParseGuarantee parses "at-least-once", "exactly-once" or "at-most-once".
func ParseGuarantee(s string) (Guarantee, error) {
	for g, n := range guaranteeNames {
		if n != "" && n == s {
			return Guarantee(g), nil
		}
	}
	return GuaranteeUnknown, fmt.Errorf("want at-least-once, exactly-once or at-most-once, got %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (g Guarantee) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (g *Guarantee) UnmarshalText(b []byte) error {
	v, err := ParseGuarantee(string(b))
	*g = v
	return err
}

// Header is the optional first line of a history:
// {"history":1,"model":"log","guarantee":"at-least-once"}.
type Header struct {
	Version   int       `json:"history"`             // format version; Version when written by this package
	Model     Model     `json:"model,omitempty"`     // ModelUnknown: inferred by the checker
	Guarantee Guarantee `json:"guarantee,omitempty"` // GuaranteeUnknown: at-least-once
	_         struct{}
}

// Type is an event's type: an invocation or one of three completions.
type Type uint8

// Event types.
const (
	Invoke Type = iota // the operation started
	OK                 // it happened
	Fail               // it definitely did not happen
	Info               // its outcome is unknown; the process is not reused
)

var typeNames = [...]string{Invoke: "invoke", OK: "ok", Fail: "fail", Info: "info"}

// String returns "invoke", "ok", "fail" or "info".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

func parseType(s string) (Type, bool) {
	for t, n := range typeNames {
		if n == s {
			return Type(t), true
		}
	}
	return 0, false
}

// Func is the operation an event belongs to (the "f" field).
type Func uint8

// Operations. Send, Poll, Assign and Commit belong to the log model;
// Enqueue, Dequeue, Ack, Nack and Reject to the queue model; Start and Stop
// are nemesis (fault) events.
const (
	Send Func = iota
	Poll
	Assign
	Commit
	Enqueue
	Dequeue
	Ack
	Nack
	Reject
	Start
	Stop
	numFuncs
)

var funcNames = [...]string{Send: "send", Poll: "poll", Assign: "assign", Commit: "commit",
	Enqueue: "enqueue", Dequeue: "dequeue", Ack: "ack", Nack: "nack", Reject: "reject",
	Start: "start", Stop: "stop"}

// String returns the operation's name as written in the "f" field.
func (f Func) String() string {
	if f < numFuncs {
		return funcNames[f]
	}
	return fmt.Sprintf("Func(%d)", uint8(f))
}

// Model returns the model the operation belongs to, or ModelUnknown for
// nemesis operations.
func (f Func) Model() Model {
	switch f {
	case Send, Poll, Assign, Commit:
		return ModelLog
	case Enqueue, Dequeue, Ack, Nack, Reject:
		return ModelQueue
	}
	return ModelUnknown
}

func parseFunc(s string) (Func, bool) {
	for f, n := range funcNames {
		if n == s {
			return Func(f), true
		}
	}
	return 0, false
}

// NemesisProcess is the Process of nemesis events; it is written as the
// string "nemesis".
const NemesisProcess = -1

// Record is one message seen by a poll: its partition key, offset and value.
type Record struct {
	Key    string `json:"key"`
	Offset int64  `json:"offset"`
	Value  int64  `json:"value"`
}

// KeyOffset is one committed offset of a commit event.
type KeyOffset struct {
	Key    string `json:"key"`
	Offset int64  `json:"offset"`
}

// Event is one line of a history. Which fields are meaningful depends on F
// and Type; docs/history.md has the table. Events are plain values and not
// safe for concurrent mutation.
type Event struct {
	Index   int64  // position in the history; strictly increasing
	Time    int64  // nanoseconds on one monotonic clock; non-decreasing
	Process int    // client id >= 0, or NemesisProcess
	Type    Type   // invoke, ok, fail or info
	F       Func   // the operation
	Key     string // send/enqueue/dequeue/ack/nack/reject: topic-partition or queue

	// Value is the message value of send, enqueue, dequeue, ack, nack and
	// reject; HasValue reports whether the line carried one.
	Value    int64
	HasValue bool
	// Offset is the offset a send ok was acknowledged at; HasOffset reports
	// whether the line carried one.
	Offset    int64
	HasOffset bool

	Records []Record    // poll ok: the messages seen, grouped by key in line order
	Keys    []string    // assign ok: the partitions now assigned
	Commits []KeyOffset // commit ok: the offsets committed
	Fault   string      // nemesis start/stop: the fault description
	// Group is the consumer group of a commit or assign (optional "group"
	// field); "" when not named: a history's unnamed consumers are one
	// group.
	Group string
	// DeadLetter is a reject's optional "deadLetter" field: the queue the
	// message was dead-lettered to; "" when not named.
	DeadLetter string
	Error      string // optional free-text "error" field

	Line int // 1-based line number in the file; 0 when not read from a file
}

// IsNemesis reports whether the event is a fault event.
func (e *Event) IsNemesis() bool { return e.Process == NemesisProcess }
