package results

import "github.com/brokerbench/brokerbench/metrics"

// Generator is the load generator's own health during the measured phase
// (the whole run when it ended before measuring): how late a probe
// goroutine woke from a fixed short sleep (jHiccup's method), what the Go
// garbage collector paused, and how much CPU the process used. It lets a
// reader tell the system's latency from the generator's stalls; the rule
// that turns it into the generator-saturated status reason is
// [GeneratorExplains] (docs/measurement.md, "The generator watches
// itself"). The count of late sends, the other half of the picture, is
// Counts.Late.
type Generator struct {
	// ProbeInterval is the probe's sleep, in ms.
	ProbeInterval float64 `json:"probeInterval"`
	// Hiccups summarises how late the probe woke, in ms, corrected for the
	// wake-ups a long stall swallowed (as jHiccup records them), so its
	// percentiles read like those of a corrected latency.
	Hiccups metrics.Summary `json:"hiccups"`
	// HiccupHistogram is the encoded HDR histogram of Hiccups, V2
	// compressed and base64 encoded, values in microseconds.
	HiccupHistogram string `json:"hiccupHistogram"`
	// GCCycles is the number of completed GC cycles, GCPauseTotal the
	// stop-the-world pause time they cost and GCPauseMax the longest
	// pause, in ms (from runtime/metrics' pause histogram, so to its
	// bucket resolution).
	GCCycles     int64   `json:"gcCycles"`
	GCPauseTotal float64 `json:"gcPauseTotal"`
	GCPauseMax   float64 `json:"gcPauseMax"`
	// CPUSeconds is the CPU time the whole process used (an embedded
	// broker included), and CPUShare that time over GOMAXPROCS times the
	// wall time: 1 means every core the process may use was busy.
	CPUSeconds float64 `json:"cpuSeconds"`
	CPUShare   float64 `json:"cpuShare"`
	// GOMAXPROCS is the number of cores the process could use.
	GOMAXPROCS int `json:"gomaxprocs"`
	// Seconds is the wall time these figures cover.
	Seconds float64 `json:"seconds"`
}
