package workloads

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. Invariants:
//   - Parse never panics and returns exactly one of a file or an error;
//   - every error is a *FieldError wrapping one of the sentinel errors;
//   - every workload of a successful parse validates, expands into 1 to
//     MaxRuns runs with distinct names, and each run validates and has a
//     non-nil Sweep.
//
// The seed corpus (the shipped file, the OMB samples and the snippets below)
// runs as an ordinary test with `go test`.
func FuzzParse(f *testing.F) {
	paths := []string{filepath.Join("..", "workloads.yaml")}
	samples, _ := filepath.Glob(filepath.Join("testdata", "omb-*.yaml"))
	paths = append(paths, samples...)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"name: x\n",
		"workloads:\n  - name: a\n    partitionsPerTopic: [1, 2]\n    producerRate: [0, 1e3]\n",
		"workloads:\n  - name: a\n    keyDistributor: [UNIFORM, {type: HOT_KEY, hotShare: 0.8}, {type: ZIPF}]\n",
		"defaults: {consumerPerSubscription: 3, churn: {interval: 1s, membership: [dynamic, static]}}\nworkloads: [{name: a}]\n",
		"workloads:\n  - &b {name: a, topics: 2}\n  - {<<: *b, name: c}\n",
		"a: &a [*a]\n",
		"workloads:\n  - name: a\n    delivery: {acks: [all, '1'], idempotent: false}\n",
		"name: x\ntestDurationMinutes: 1e308\n",
		"name: x\nmessageSize: 99999999999999999999\n",
		"- 1\n- 2\n",
		"{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data)
		if (file == nil) == (err == nil) {
			t.Fatalf("Parse returned file %v and error %v; want exactly one", file, err)
		}
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		for _, w := range file.Workloads {
			if err := w.Validate(); err != nil {
				t.Fatalf("%s: parsed but does not validate: %v", w.Name, err)
			}
			runs := w.Expand()
			if len(runs) < 1 || len(runs) > MaxRuns {
				t.Fatalf("%s: %d runs", w.Name, len(runs))
			}
			names := map[string]bool{}
			for _, r := range runs {
				if names[r.Name] {
					t.Fatalf("%s: duplicate run name %q", w.Name, r.Name)
				}
				names[r.Name] = true
				if r.Sweep == nil {
					t.Fatalf("%s: nil Sweep", r.Name)
				}
				if err := r.Validate(); err != nil {
					t.Fatalf("%s: run does not validate: %v", r.Name, err)
				}
			}
		}
	})
}

func checkFuzzError(t *testing.T, err error) {
	t.Helper()
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
			t.Fatalf("error %q (%T) is not a *FieldError", e, e)
		}
		for _, s := range []error{ErrSyntax, ErrUnknownKey, ErrInvalidValue, ErrDuplicate} {
			if errors.Is(fe, s) {
				return
			}
		}
		t.Fatalf("error %q wraps no sentinel", fe)
	}
	walk(err)
}
