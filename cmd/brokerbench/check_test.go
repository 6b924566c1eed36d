package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const checkdata = "../../checkers/testdata/"

func TestCheckExitCodes(t *testing.T) {
	t.Parallel()
	malformed := writeFile(t, "bad.jsonl", `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}`+"\n"+
		`{"time":2,"process":0,"type":"okay","f":"send","key":"t/0","value":1}`+"\n")
	mixed := writeFile(t, "mixed.jsonl", `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}`+"\n"+
		`{"time":2,"process":0,"type":"invoke","f":"enqueue","key":"q","value":2}`+"\n")
	noModel := writeFile(t, "nemesis.jsonl", `{"time":1,"process":"nemesis","type":"info","f":"start","value":"x"}`+"\n")
	twice := writeFile(t, "twice.jsonl", `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}`+"\n"+
		`{"time":2,"process":1,"type":"invoke","f":"send","key":"t/0","value":1}`+"\n")
	tests := []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"valid", []string{checkdata + "log-clean.valid.jsonl"}, exitOK, "VALID: log history, 20 events, checked against exactly-once"},
		{"valid queue", []string{checkdata + "queue-clean.valid.jsonl"}, exitOK, "VALID: queue history"},
		{"invalid", []string{checkdata + "log-lost-write.invalid.jsonl"}, exitFailed, "lost-write"},
		{"duplicates pass at-least-once", []string{checkdata + "queue-duplicated.valid.jsonl"}, exitOK, "allowed under at-least-once"},
		{"--guarantee makes them fail", []string{"--guarantee", "exactly-once", checkdata + "queue-duplicated.valid.jsonl"}, exitFailed, "duplicated"},
		{"unknown is not a pass", []string{"--timeout", "1ns", checkdata + "log-clean.valid.jsonl"}, exitFailed, "UNKNOWN"},
		{"malformed names file and line", []string{malformed}, exitUsage, `bad.jsonl:2: field "type": want invoke, ok, fail or info, got "okay"`},
		{"mixed models", []string{mixed}, exitUsage, `mixed.jsonl:2: field "f"`},
		{"--model contradicts", []string{"--model", "queue", checkdata + "log-unseen.invalid.jsonl"}, exitUsage, `log-unseen.invalid.jsonl:1: field "f"`},
		{"no model", []string{noModel}, exitUsage, "cannot infer"},
		{"inconsistent history", []string{twice}, exitUsage, "twice.jsonl:2: field \"value\": inconsistent history: value 1 was already sent at line 1"},
		{"missing file", []string{"nope.jsonl"}, exitUsage, "nope.jsonl"},
		{"bad guarantee", []string{"--guarantee", "twice", checkdata + "log-clean.valid.jsonl"}, exitUsage, "--guarantee"},
		{"bad model", []string{"--model", "stream", checkdata + "log-clean.valid.jsonl"}, exitUsage, "--model"},
		{"bad timeout", []string{"--timeout", "-1s", checkdata + "log-clean.valid.jsonl"}, exitUsage, "--timeout"},
		{"no argument", nil, exitUsage, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, append([]string{"check"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("exit %d, want %d; output does not contain %q:\n%s%s", code, tt.code, tt.want, stdout, stderr)
			}
		})
	}
}

func TestCheckWritesVerdictAndVisualization(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	jsonPath := filepath.Join(t.TempDir(), "v.json")
	code, stdout, stderr := run(t, "check", "--out", dir, "--json", jsonPath, checkdata+"log-nonlinearizable.invalid.jsonl")
	if code != exitFailed {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, p := range []string{filepath.Join(dir, "verdict.json"), jsonPath} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Valid          any            `json:"valid"`
			Anomalies      map[string]any `json:"anomalies"`
			Visualizations []string       `json:"visualizations"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if v.Valid != false || v.Anomalies["nonlinearizable"] == nil || len(v.Visualizations) != 1 {
			t.Errorf("%s: %s", p, b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "linearizability-t_0.html")); err != nil {
		t.Errorf("visualization not next to the verdict: %v", err)
	}

	// "unknown" is a string in the JSON verdict, never true.
	unknown := filepath.Join(t.TempDir(), "u.json")
	if code, _, _ := run(t, "check", "--timeout", "1ns", "--json", unknown, checkdata+"log-clean.valid.jsonl"); code != exitFailed {
		t.Fatalf("exit %d", code)
	}
	if b, _ := os.ReadFile(unknown); !strings.Contains(string(b), `"valid": "unknown"`) {
		t.Errorf("verdict: %s", b)
	}
}
