//go:build !unix

package overhead

import "time"

// syncDisks has no portable equivalent here; the measurements run on Linux.
func syncDisks() {}

// processCPU cannot be read portably: CPU figures are then not reported.
func processCPU() time.Duration { return -1 }
