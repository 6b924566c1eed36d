package history

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the Reader. Invariants:
//   - it never panics and always terminates;
//   - every error other than io.EOF is a *LineError matching ErrMalformed,
//     with a line number >= 1 (the input is in memory: no I/O errors);
//   - every event returned has strictly increasing Index, non-decreasing
//     Time, a valid Type and F, a send ok carries an offset >= 0, and poll
//     records have offsets >= 0;
//   - the allocation-free fast path and encoding/json agree: the same
//     events, the same error text.
//
// The seed corpus is every history in ../testdata plus edge cases.
func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "*.jsonl"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, s := range []string{
		"", "\n", "{}", "[]", "null", `{"history":1}`, `{"history":1.5}`,
		`{"time":1,"process":0,"type":"ok","f":"poll","value":{"a":[[1]]}}`,
		`{"time":1,"process":"nemesis","type":"info","f":"start","value":null}`,
		`{"time":-1,"process":0,"type":"invoke","f":"send","key":"k","value":1e3}`,
		`{"time":1,"process":99999999999,"type":"invoke","f":"poll"}`,
		"{\"time\":1,\"process\":0,\"type\":\"ok\",\"f\":\"send\",\"key\":\"k\",\"value\":1,\"offset\":-1}",
		// Strict input: a key repeated in one poll, fields differing from
		// known ones only by case, negative times.
		`{"time":1,"process":0,"type":"ok","f":"poll","value":{"a":[[1,2]],"a":[[3,4]]}}`,
		`{"time":1,"process":0,"type":"ok","f":"commit","value":{"a":1,"a":2}}`,
		`{"time":-9,"process":0,"type":"invoke","f":"send","key":"k","value":1,"VALUE":2,"Time":3}`,
		`{"time":1,"process":0,"type":"ok","f":"commit","group":"g","value":{"a":1}}`,
		`{"time":1,"process":0,"type":"ok","f":"reject","key":"q","value":1,"deadLetter":"q.dlq"}`,
		`{"time":1,"process":0,"type":"info","f":"dequeue"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		fastEvents, fastErr := readString(in, false)
		slowEvents, slowErr := readString(in, true)
		if fmt.Sprint(fastErr) != fmt.Sprint(slowErr) || !reflect.DeepEqual(fastEvents, slowEvents) {
			t.Fatalf("fast and slow paths disagree on %q:\nfast %v %+v\nslow %v %+v", in, fastErr, fastEvents, slowErr, slowEvents)
		}
		r := NewReader(strings.NewReader(in), "fuzz")
		lastIndex, lastTime := int64(-1), int64(-1<<63)
		for n := 0; ; n++ {
			e, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var le *LineError
				if !errors.As(err, &le) || !errors.Is(err, ErrMalformed) || le.Line < 1 {
					t.Fatalf("error %v (%T) is not a located *LineError", err, err)
				}
				return
			}
			if e.Index <= lastIndex || e.Time < lastTime {
				t.Fatalf("event %d: index %d time %d after %d, %d", n, e.Index, e.Time, lastIndex, lastTime)
			}
			lastIndex, lastTime = e.Index, e.Time
			if e.Type > Info || e.F >= numFuncs {
				t.Fatalf("event %d: type %d f %d", n, e.Type, e.F)
			}
			if e.F == Send && e.Type == OK && (!e.HasOffset || e.Offset < 0) {
				t.Fatalf("send ok without a valid offset: %+v", e)
			}
			for _, rec := range e.Records {
				if rec.Offset < 0 {
					t.Fatalf("negative polled offset: %+v", e)
				}
			}
		}
	})
}

// readString reads every event of in, through encoding/json only when slow.
func readString(in string, slow bool) ([]Event, error) {
	r := NewReader(strings.NewReader(in), "fuzz")
	r.slowOnly = slow
	var out []Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}
