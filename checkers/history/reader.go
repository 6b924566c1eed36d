package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
)

// MaxLineBytes bounds one history line (16 MiB): a poll of many records is
// long, but an unbounded line would let a corrupt file exhaust memory.
const MaxLineBytes = 16 << 20

// Reader decodes a history one event at a time, validating every line. It
// keeps O(1) state besides the current line, so a history of any length can
// be streamed. Errors are *LineError values naming the line and field.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	name      string
	br        *bufio.Reader
	line      int
	buf       []byte
	header    Header
	started   bool   // the first non-empty line was consumed or peeked
	pending   []byte // first line when it was not a header
	model     Model  // header model, or the model of the first client op
	modelLine int    // line that fixed model when inferred
	lastIndex int64
	lastTime  int64
	events    int
	slowOnly  bool              // tests: always use encoding/json
	store     fastStore         // storage behind the fast path's rawLine
	keys      map[string]string // interned keys
}

// NewReader returns a Reader of r. name is used in error messages, usually
// the file name; "history" when empty.
func NewReader(r io.Reader, name string) *Reader {
	if name == "" {
		name = "history"
	}
	// Times may start anywhere, negative included: only order and
	// differences matter.
	return &Reader{name: name, br: bufio.NewReaderSize(r, 1<<16), lastIndex: -1, lastTime: math.MinInt64}
}

// Header returns the history's header, reading the first line if needed. A
// history without a header yields a zero Header (Version 0) and no error.
func (r *Reader) Header() (Header, error) {
	if err := r.start(); err != nil {
		return Header{}, err
	}
	return r.header, nil
}

// Model returns the header's model or, without one, the model of the first
// client operation read so far (ModelUnknown before that).
func (r *Reader) Model() Model { return r.model }

// Events returns the number of events returned so far.
func (r *Reader) Events() int { return r.events }

func (r *Reader) start() error {
	if r.started {
		return nil
	}
	r.started = true
	line, err := r.readLine()
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	if !bytes.Contains(line, []byte(`"history"`)) {
		r.pending = slices.Clone(line)
		return nil
	}
	var raw rawLine
	if err := r.decode(line, &raw); err != nil {
		return err
	}
	if raw.History == nil {
		r.pending = slices.Clone(line)
		return nil
	}
	return r.parseHeader(&raw)
}

func (r *Reader) parseHeader(raw *rawLine) error {
	if *raw.History < 1 || *raw.History > Version {
		return r.errf("history", "unsupported version %d: this reader knows version %d", *raw.History, Version)
	}
	r.header.Version = *raw.History
	if raw.Model != nil {
		m, err := ParseModel(*raw.Model)
		if err != nil {
			return r.fieldErr("model", err)
		}
		r.header.Model, r.model = m, m
	}
	if raw.Guarantee != nil {
		g, err := ParseGuarantee(*raw.Guarantee)
		if err != nil {
			return r.fieldErr("guarantee", err)
		}
		r.header.Guarantee = g
	}
	return nil
}

// Next returns the next event, or io.EOF after the last one. Blank lines are
// skipped. Any other error is a *LineError (errors.Is(err, ErrMalformed)) or
// an I/O error from the underlying reader.
func (r *Reader) Next() (Event, error) {
	if err := r.start(); err != nil {
		return Event{}, err
	}
	var line []byte
	if r.pending != nil {
		line, r.pending = r.pending, nil
	} else {
		var err error
		if line, err = r.readLine(); err != nil {
			return Event{}, err
		}
	}
	var raw rawLine
	if err := r.decode(line, &raw); err != nil {
		return Event{}, err
	}
	e, err := r.parseEvent(&raw)
	if err != nil {
		return Event{}, err
	}
	r.events++
	return e, nil
}

// readLine returns the next non-blank line without its newline. The slice is
// valid until the next call.
func (r *Reader) readLine() ([]byte, error) {
	for {
		r.line++
		r.buf = r.buf[:0]
		for {
			chunk, err := r.br.ReadSlice('\n')
			if len(r.buf)+len(chunk) > MaxLineBytes {
				return nil, r.errf("", "%w: over %d bytes", ErrLineTooLong, MaxLineBytes)
			}
			if err == bufio.ErrBufferFull {
				r.buf = append(r.buf, chunk...)
				continue
			}
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("read %s line %d: %w", r.name, r.line, err)
			}
			if len(r.buf) == 0 {
				// Common case: the whole line fits the buffer; avoid a copy.
				r.buf = chunk
			} else {
				r.buf = append(r.buf, chunk...)
			}
			if err == io.EOF && len(r.buf) == 0 {
				return nil, io.EOF
			}
			break
		}
		line := bytes.TrimSpace(r.buf)
		if len(line) > 0 {
			return line, nil
		}
	}
}

// rawLine is the union of every field a line may carry.
type rawLine struct {
	History   *int            `json:"history"`
	Model     *string         `json:"model"`
	Guarantee *string         `json:"guarantee"`
	Index     *int64          `json:"index"`
	Time      *int64          `json:"time"`
	Process   json.RawMessage `json:"process"`
	Type      *string         `json:"type"`
	F         *string         `json:"f"`
	Key       *string         `json:"key"`
	Value     json.RawMessage `json:"value"`
	Offset    *int64          `json:"offset"`
	Error     *string         `json:"error"`
	Group     *string         `json:"group"`
	// DeadLetter is only decoded by the slow path: rejects are rare.
	DeadLetter *string `json:"deadLetter"`

	records []Record // poll ok records decoded by the fast path; nil otherwise
}

// decode fills raw from line, through the fast path when the line allows.
func (r *Reader) decode(line []byte, raw *rawLine) error {
	if !r.slowOnly && r.fast(line, raw) {
		return nil
	}
	*raw = rawLine{}
	return r.unmarshal(line, raw)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64":
		return "an integer"
	case "string":
		return "a string"
	}
	return goKind
}

func abbreviate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

func (r *Reader) errf(field, format string, args ...any) error {
	return &LineError{Name: r.name, Line: r.line, Field: field, Err: fmt.Errorf(format, args...)}
}

func (r *Reader) fieldErr(field string, err error) error {
	return &LineError{Name: r.name, Line: r.line, Field: field, Err: err}
}

func (r *Reader) parseEvent(raw *rawLine) (Event, error) {
	e := Event{Line: r.line}
	if raw.History != nil {
		return e, r.errf("history", "a header is allowed only on the first line")
	}
	if err := r.parseIndexTime(raw, &e); err != nil {
		return e, err
	}
	if err := r.parseProcess(raw.Process, &e); err != nil {
		return e, err
	}
	if raw.Type == nil {
		return e, r.errf("type", "required")
	}
	t, ok := parseType(*raw.Type)
	if !ok {
		return e, r.errf("type", "want invoke, ok, fail or info, got %q", *raw.Type)
	}
	e.Type = t
	if raw.F == nil {
		return e, r.errf("f", "required")
	}
	f, ok := parseFunc(*raw.F)
	if !ok {
		return e, r.errf("f", "want send, poll, assign, commit, enqueue, dequeue, ack, nack, reject, start or stop, got %q", *raw.F)
	}
	e.F = f
	if raw.Error != nil {
		e.Error = *raw.Error
	}
	if err := r.checkModel(&e); err != nil {
		return e, err
	}
	return e, r.parseFields(raw, &e)
}

func (r *Reader) parseIndexTime(raw *rawLine, e *Event) error {
	if raw.Index != nil {
		if *raw.Index <= r.lastIndex {
			return r.errf("index", "%d does not follow the previous index %d", *raw.Index, r.lastIndex)
		}
		e.Index = *raw.Index
	} else {
		e.Index = r.lastIndex + 1
	}
	if raw.Time == nil {
		return r.errf("time", "required")
	}
	if *raw.Time < r.lastTime {
		return r.errf("time", "%d is before the previous event's time %d", *raw.Time, r.lastTime)
	}
	e.Time = *raw.Time
	r.lastIndex, r.lastTime = e.Index, e.Time
	return nil
}

func (r *Reader) parseProcess(p json.RawMessage, e *Event) error {
	if len(p) == 0 {
		return r.errf("process", "required")
	}
	if p[0] == '"' {
		if string(p) != `"nemesis"` {
			return r.errf("process", `want an integer or "nemesis", got %s`, p)
		}
		e.Process = NemesisProcess
		return nil
	}
	n, ok := parseInt(p)
	if !ok || n < 0 || n > 1<<31-1 {
		return r.errf("process", `want an integer >= 0 or "nemesis", got %s`, abbreviate(p))
	}
	e.Process = int(n)
	return nil
}

// checkModel keeps one model per history: the header's, or the first client
// operation's.
func (r *Reader) checkModel(e *Event) error {
	m := e.F.Model()
	if e.IsNemesis() {
		if m != ModelUnknown {
			return r.errf("f", "nemesis events are start or stop, got %q", e.F)
		}
		if e.Type != Info {
			return r.errf("type", "nemesis events have type info, got %q", e.Type)
		}
		return nil
	}
	switch {
	case m == ModelUnknown:
		return r.errf("f", "%q is a nemesis operation but process is not \"nemesis\"", e.F)
	case r.model == ModelUnknown:
		r.model, r.modelLine = m, r.line
	case m != r.model:
		if r.modelLine == 0 {
			return r.errf("f", "%q is a %s-model operation but the header says %s", e.F, m, r.model)
		}
		return r.errf("f", "%q is a %s-model operation but line %d made this a %s history", e.F, m, r.modelLine, r.model)
	}
	return nil
}

// Name returns the name used in error messages.
func (r *Reader) Name() string { return r.name }
