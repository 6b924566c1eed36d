package memory_test

import (
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/adapters/memory"
)

// TestConformance holds the in-memory system to the suite every adapter
// passes, so that tests built on it test against a faithful log.
func TestConformance(t *testing.T) {
	t.Parallel()
	adaptertest.Run(t, func(*testing.T) adapters.System { return memory.New(memory.Config{}) })
}
