package workloads

import (
	"errors"
	"strings"
	"testing"
)

// testFile is the path tests pass to Parse; errors must start with it.
const testFile = "test.yaml"

// parseSrc parses a YAML snippet as if read from testFile.
func parseSrc(t *testing.T, src string) (*File, error) {
	t.Helper()
	return Parse(testFile, []byte(src))
}

// mustParse parses a snippet that must be valid.
func mustParse(t *testing.T, src string) *File {
	t.Helper()
	f, err := parseSrc(t, src)
	if err != nil {
		t.Fatalf("Parse: unexpected error:\n%v\nsource:\n%s", err, src)
	}
	return f
}

// mustOne parses a valid snippet holding exactly one workload.
func mustOne(t *testing.T, src string) Workload {
	t.Helper()
	f := mustParse(t, src)
	if len(f.Workloads) != 1 {
		t.Fatalf("got %d workloads, want 1", len(f.Workloads))
	}
	return f.Workloads[0]
}

// fieldErrors flattens an errors.Join tree into its *FieldError leaves and
// fails the test if any leaf is not a *FieldError.
func fieldErrors(t *testing.T, err error) []*FieldError {
	t.Helper()
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("error %q (%T) is not a *FieldError", e, e)
			return
		}
		out = append(out, fe)
	}
	walk(err)
	return out
}

// multi wraps workload lines (already indented by 4 spaces) in our file
// shape, so that test rows read like the shipped file. The workload's first
// key is on line 3.
func multi(body string) string {
	return "workloads:\n  - name: w\n" + body
}

// lines joins snippet lines, which keeps line numbers in rows readable.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
