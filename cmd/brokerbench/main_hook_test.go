package main

import (
	"context"
	"os"
	"testing"

	"github.com/brokerbench/brokerbench/suite/systems"
)

// asCLIEnv, set to 1, makes the test binary run the brokerbench command
// line instead of the tests.
const asCLIEnv = "BROKERBENCH_TEST_AS_CLI"

// TestMain lets this test binary serve refbroker when the CLI under test
// re-executes it, as the brokerbench binary does (systems.ServeRefbroker).
func TestMain(m *testing.M) {
	if code, ok := systems.ServeRefbroker(); ok {
		os.Exit(code)
	}
	// The workers of run --local-workers re-execute this binary as the
	// CLI (distributed_test.go).
	if os.Getenv(asCLIEnv) == "1" {
		os.Exit(execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
