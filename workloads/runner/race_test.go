//go:build race

package runner

// raceEnabled reports whether the race detector is on; tests that count
// allocations skip then.
const raceEnabled = true
