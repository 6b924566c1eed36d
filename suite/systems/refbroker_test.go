package systems

import (
	"errors"
	"strings"
	"testing"
)

// TestRefbrokerModes: the mode setting picks how refbroker runs, a bad one
// is a setup error naming the flag, subprocess mode without any way to
// start one says how to fix it, and auto falls back to in-process and says
// so in the server line. (The subprocess itself is exercised through the
// CLI in cmd/brokerbench, whose test binary can serve refbroker.)
func TestRefbrokerModes(t *testing.T) {
	// No refbroker binary anywhere: an empty PATH and no override.
	t.Setenv("PATH", t.TempDir())
	t.Setenv(refbrokerBinEnv, "")
	for _, tc := range []struct {
		mode    string
		server  string // substring of the server line; "" when an error is wanted
		errWant string
	}{
		{"", "in-process: no refbroker binary", ""},
		{"auto", "in-process: no refbroker binary", ""},
		{"in-process", "(in-process, default fsync interval)", ""},
		{"subprocess", "", "no refbroker binary was found"},
		{"sideways", "", "--refbroker-mode"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "BROKERBENCH_REFBROKER_MODE" {
					return tc.mode
				}
				return ""
			}
			s, closeFn, err := openRefbroker(t.Context(), OpenOptions{Getenv: getenv, ToolVersion: "test"})
			if tc.errWant != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errWant) || !errors.Is(err, ErrSetup) {
					t.Fatalf("err = %v, want a setup error containing %q", err, tc.errWant)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeFn()
			info, err := s.Info(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(info.Server, tc.server) {
				t.Fatalf("server %q, want it to contain %q", info.Server, tc.server)
			}
		})
	}
}
