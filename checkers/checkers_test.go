package checkers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/checkers/history"
)

func checkString(t *testing.T, text string, cfg Config) (*Verdict, error) {
	t.Helper()
	return Check(context.Background(), history.NewReader(strings.NewReader(text), "test.jsonl"), cfg)
}

const twoSends = `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}
{"time":2,"process":0,"type":"ok","f":"send","key":"t/0","value":1,"offset":0}
{"time":3,"process":1,"type":"ok","f":"poll","value":{"t/0":[[0,1]]}}
`

// TestTimeoutIsUnknownNeverValid: a linearizability search cut short makes
// the verdict unknown, which is not a pass.
func TestTimeoutIsUnknownNeverValid(t *testing.T) {
	t.Parallel()
	v, err := checkString(t, twoSends, Config{LinearizabilityTimeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if v.Valid != Unknown || len(v.Inconclusive) != 1 || v.Inconclusive[0].Key != "t/0" {
		t.Fatalf("verdict %s, inconclusive %+v; want unknown for t/0", v.Valid, v.Inconclusive)
	}
	var b strings.Builder
	if err := v.WriteJSON(&b); err != nil || !strings.Contains(b.String(), `"valid": "unknown"`) {
		t.Errorf("JSON %s, %v", b.String(), err)
	}
	// A failing anomaly still makes it invalid: unknown only replaces valid.
	v, err = checkString(t, twoSends+`{"time":4,"process":1,"type":"ok","f":"poll","value":{"t/0":[[0,9]]}}`, Config{LinearizabilityTimeout: time.Nanosecond})
	if err != nil || v.Valid != Invalid {
		t.Fatalf("verdict %v, %v; want invalid", v.Valid, err)
	}
}

func TestZeroValidityIsUnknown(t *testing.T) {
	t.Parallel()
	var v Verdict
	if v.Valid != Unknown {
		t.Fatal("the zero verdict must not pass")
	}
	for _, tt := range []struct {
		in   string
		want Validity
	}{{"true", Valid}, {"false", Invalid}, {`"unknown"`, Unknown}} {
		var got Validity
		if err := got.UnmarshalJSON([]byte(tt.in)); err != nil || got != tt.want {
			t.Errorf("%s: %v, %v", tt.in, got, err)
		}
	}
	var bad Validity
	if err := bad.UnmarshalJSON([]byte(`"yes"`)); err == nil {
		t.Error(`"yes" accepted`)
	}
}

func TestInconsistentHistoriesAreErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, want string
	}{
		{"ok without invoke", `{"time":1,"process":0,"type":"ok","f":"send","key":"t/0","value":1,"offset":0}`,
			`test.jsonl:1: field "value": inconsistent history: send ok of value 1 has no invoke before it`},
		{"completed twice", twoSends + `{"time":4,"process":0,"type":"ok","f":"send","key":"t/0","value":1,"offset":0}`,
			`test.jsonl:4: field "value": inconsistent history: send of value 1 already completed at line 2`},
		{"other process", `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}
{"time":2,"process":1,"type":"info","f":"send","key":"t/0","value":1}`, `field "process": inconsistent history: send of value 1 completed by process 1 but invoked by process 0`},
		{"other key", `{"time":1,"process":0,"type":"invoke","f":"enqueue","key":"a","value":1}
{"time":2,"process":0,"type":"ok","f":"enqueue","key":"b","value":1}`, `field "key": inconsistent history: enqueue of value 1 completed for queue "b"`},
		{"enqueued twice", `{"time":1,"process":0,"type":"invoke","f":"enqueue","key":"a","value":1}
{"time":2,"process":1,"type":"invoke","f":"enqueue","key":"a","value":1}`, `test.jsonl:2: field "value": inconsistent history: value 1 was already enqueued at line 1`},
	}
	for _, tt := range tests {
		_, err := checkString(t, tt.text, Config{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInconsistent) || !errors.Is(err, history.ErrMalformed) {
			t.Errorf("%s: %v; want %q", tt.name, err, tt.want)
		}
	}
}

func TestModelInferenceAndOverrides(t *testing.T) {
	t.Parallel()
	nemesisFirst := `{"time":0,"process":"nemesis","type":"info","f":"start","value":"x"}
` + twoSends
	v, err := checkString(t, nemesisFirst, Config{})
	if err != nil || v.Model != "log" || v.Guarantee != "at-least-once" || v.Stats.Nemesis != 1 || v.Valid != Valid {
		t.Fatalf("%+v, %v", v, err)
	}
	if _, err := checkString(t, `{"time":0,"process":"nemesis","type":"info","f":"start"}`, Config{}); !errors.Is(err, ErrNoModel) {
		t.Errorf("only nemesis: %v, want ErrNoModel", err)
	}
	v, err = checkString(t, `{"history":1,"model":"queue","guarantee":"exactly-once"}`, Config{Guarantee: history.AtMostOnce})
	if err != nil || v.Model != "queue" || v.Guarantee != "at-most-once" || v.Valid != Valid {
		t.Errorf("empty queue history: %+v, %v", v, err)
	}
	if _, err := checkString(t, twoSends, Config{LinearizabilityTimeout: -time.Second}); err == nil {
		t.Error("negative timeout accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Check(ctx, history.NewReader(strings.NewReader(twoSends), ""), Config{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}
