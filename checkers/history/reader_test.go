package history

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, text string) ([]Event, Header, error) {
	t.Helper()
	r := NewReader(strings.NewReader(text), "history.jsonl")
	h, err := r.Header()
	if err != nil {
		return nil, h, err
	}
	var out []Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return out, h, nil
		}
		if err != nil {
			return out, h, err
		}
		out = append(out, e)
	}
}

func TestReaderErrorsNameLineAndField(t *testing.T) {
	t.Parallel()
	const send = `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}` + "\n"
	tests := []struct {
		name string
		text string
		want string
	}{
		// The example of the issue, verbatim.
		{"bad type", send + `{"time":2,"process":0,"type":"okay","f":"send","key":"t/0","value":1}`,
			`history.jsonl:2: field "type": want invoke, ok, fail or info, got "okay"`},
		{"not JSON", send + "hello", `history.jsonl:2: want a JSON object, got "hello"`},
		{"truncated JSON", `{"time":1,`, `history.jsonl:1: invalid JSON`},
		{"time missing", `{"process":0,"type":"invoke","f":"poll"}`, `history.jsonl:1: field "time": required`},
		{"time a string", `{"time":"1","process":0,"type":"invoke","f":"poll"}`, `history.jsonl:1: field "time": want an integer, got string`},
		{"time goes back", send + `{"time":0,"process":0,"type":"invoke","f":"poll"}`, `history.jsonl:2: field "time": 0 is before the previous event's time 1`},
		{"index not increasing", `{"index":5,"time":1,"process":0,"type":"invoke","f":"poll"}` + "\n" + `{"index":5,"time":1,"process":0,"type":"invoke","f":"poll"}`, `history.jsonl:2: field "index": 5 does not follow the previous index 5`},
		{"process bad string", `{"time":1,"process":"p1","type":"invoke","f":"poll"}`, `field "process": want an integer or "nemesis", got "p1"`},
		{"process negative", `{"time":1,"process":-3,"type":"invoke","f":"poll"}`, `field "process": want an integer >= 0`},
		{"process missing", `{"time":1,"type":"invoke","f":"poll"}`, `field "process": required`},
		{"bad f", `{"time":1,"process":0,"type":"invoke","f":"produce"}`, `field "f": want send, poll`},
		{"send without value", `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0"}`, `field "value": required for send invoke`},
		{"send without key", `{"time":1,"process":0,"type":"invoke","f":"send","value":1}`, `field "key": required for send invoke`},
		{"send ok without offset", send + `{"time":2,"process":0,"type":"ok","f":"send","key":"t/0","value":1}`, `history.jsonl:2: field "offset": required for send ok`},
		{"value not integer", `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":"a"}`, `field "value": want an integer, got "a"`},
		{"poll pair too long", `{"time":1,"process":0,"type":"ok","f":"poll","value":{"t/0":[[0,1,2]]}}`, `field "value": key "t/0" entry 0: want [offset, value], got 3 numbers`},
		{"poll repeats a key", `{"time":1,"process":0,"type":"ok","f":"poll","value":{"t/0":[[0,1]],"t/1":[[0,2]],"t/0":[[1,3]]}}`,
			`history.jsonl:1: field "value": want an object {key: [[offset, value], ...]}: key "t/0" appears twice`},
		{"poll repeats a key, slow path", `{"time":1,"process":0,"type":"ok","f":"poll","value":{"t/0":[[0,1]],"t/0":[[1,3]]},"x":"\u00e9"}`,
			`history.jsonl:1: field "value": want an object {key: [[offset, value], ...]}: key "t/0" appears twice`},
		{"commit repeats a key", `{"time":1,"process":0,"type":"ok","f":"commit","value":{"t/0":1,"t/0":2}}`,
			`history.jsonl:1: field "value": want an object {key: offset}: key "t/0" appears twice`},
		{"poll not an object", `{"time":1,"process":0,"type":"ok","f":"poll","value":[1]}`, `field "value": want an object`},
		{"assign not a list", `{"time":1,"process":0,"type":"ok","f":"assign","value":"t/0"}`, `field "value": want a list of keys`},
		{"header twice", `{"history":1}` + "\n" + `{"history":1}`, `history.jsonl:2: field "history": a header is allowed only on the first line`},
		{"header version", `{"history":2}`, `history.jsonl:1: field "history": unsupported version 2`},
		{"header model", `{"history":1,"model":"stream"}`, `field "model": want log or queue, got "stream"`},
		{"header guarantee", `{"history":1,"guarantee":"once"}`, `field "guarantee": want at-least-once, exactly-once or at-most-once, got "once"`},
		{"model mix", send + `{"time":2,"process":0,"type":"invoke","f":"enqueue","key":"q","value":1}`, `history.jsonl:2: field "f": "enqueue" is a queue-model operation but line 1 made this a log history`},
		{"model against header", `{"history":1,"model":"queue"}` + "\n" + send, `history.jsonl:2: field "f": "send" is a log-model operation but the header says queue`},
		{"nemesis op by client", `{"time":1,"process":0,"type":"info","f":"start"}`, `field "f": "start" is a nemesis operation`},
		{"nemesis client op", `{"time":1,"process":"nemesis","type":"info","f":"send"}`, `field "f": nemesis events are start or stop`},
		{"nemesis type", `{"time":1,"process":"nemesis","type":"ok","f":"start"}`, `field "type": nemesis events have type info`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := readAll(t, tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want it to contain %q", err, tt.want)
			}
			var le *LineError
			if !errors.As(err, &le) || !errors.Is(err, ErrMalformed) {
				t.Errorf("error %T is not a *LineError matching ErrMalformed", err)
			}
		})
	}
}

func TestReaderAcceptsHandWrittenHistories(t *testing.T) {
	t.Parallel()
	text := `
{"history":1,"model":"log","guarantee":"exactly-once"}

{"time":5,"process":0,"type":"invoke","f":"send","key":"t/0","value":7,"note":"unknown fields are ignored"}
{"index":10,"time":5,"process":0,"type":"ok","f":"send","key":"t/0","value":7,"offset":3}
{"time":6,"process":"nemesis","type":"info","f":"start","value":{"kill":"broker-1"}}
{"time":7,"process":1,"type":"ok","f":"poll","value":{"t/1":[[0,9]],"t/0":[[3,7]]}}
{"time":8,"process":1,"type":"ok","f":"commit","value":{"t/0":4}}
{"time":9,"process":1,"type":"ok","f":"assign","value":[]}
`
	events, h, err := readAll(t, text)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != 1 || h.Model != ModelLog || h.Guarantee != ExactlyOnce {
		t.Errorf("header %+v", h)
	}
	if len(events) != 6 {
		t.Fatalf("%d events, want 6", len(events))
	}
	tests := []struct {
		got, want any
		what      string
	}{
		{events[0].Index, int64(0), "absent index is the previous + 1"},
		{events[0].Line, 4, "line numbers count blank lines and the header"},
		{events[1].Index, int64(10), "explicit index"},
		{events[1].Offset, int64(3), "send ok offset"},
		{events[2].Process, NemesisProcess, "nemesis process"},
		{events[2].Fault, `{"kill":"broker-1"}`, "non-string nemesis value kept verbatim"},
		{events[3].Index, int64(12), "index after a gap"},
		{events[3].Records[0], Record{Key: "t/0", Offset: 3, Value: 7}, "poll records sorted by key"},
		{len(events[3].Records), 2, "poll records"},
		{events[4].Commits[0], KeyOffset{Key: "t/0", Offset: 4}, "commit"},
		{events[5].Keys != nil && len(events[5].Keys) == 0, true, "empty assign"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.what, tt.got, tt.want)
		}
	}
}

// TestReaderStrictFields: field names match exactly, so a field that
// differs from a known one only by case is unknown and ignored; and times
// may start anywhere, negative included.
func TestReaderStrictFields(t *testing.T) {
	t.Parallel()
	text := `{"time":-50,"process":0,"type":"invoke","f":"send","key":"t/0","value":7,"VALUE":8,"Key":"x"}
{"time":-40,"process":0,"type":"ok","f":"send","key":"t/0","value":7,"offset":3,"Offset":9,"TIME":0}
{"time":-40,"process":1,"type":"ok","f":"poll","value":{"t/0":[[3,7]]},"Value":{"t/0":[[4,8]]},"F":"send","\u0074ype":"ok"}`
	for _, slow := range []bool{false, true} {
		events, err := readString(text, slow)
		if err != nil {
			t.Fatalf("slow %v: %v", slow, err)
		}
		if len(events) != 3 || events[0].Value != 7 || events[0].Key != "t/0" || events[0].Time != -50 ||
			events[1].Offset != 3 || events[1].Time != -40 || len(events[2].Records) != 1 || events[2].Records[0].Value != 7 {
			t.Errorf("slow %v: events %+v", slow, events)
		}
	}
}

func TestReaderLongLinesAndEOFWithoutNewline(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(`{"time":1,"process":0,"type":"ok","f":"poll","value":{"t/0":[`)
	for i := range 20000 { // ~200 KB, several bufio buffers
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("[1234567,7654321]")
	}
	b.WriteString(`]}}`)
	events, _, err := readAll(t, b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || len(events[0].Records) != 20000 {
		t.Fatalf("got %d events", len(events))
	}
}

func TestReaderEmpty(t *testing.T) {
	t.Parallel()
	events, h, err := readAll(t, "\n\n")
	if err != nil || len(events) != 0 || h.Version != 0 {
		t.Fatalf("events %v header %+v err %v", events, h, err)
	}
}
