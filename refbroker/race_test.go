//go:build race

package refbroker

const raceEnabled = true
