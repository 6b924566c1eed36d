package main

import (
	"os"
	"testing"

	"github.com/brokerbench/brokerbench/suite/systems"
)

// TestMain lets this test binary serve refbroker when the CLI under test
// re-executes it, as the brokerbench binary does (systems.ServeRefbroker).
func TestMain(m *testing.M) {
	if code, ok := systems.ServeRefbroker(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
