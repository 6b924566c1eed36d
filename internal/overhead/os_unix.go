//go:build unix

package overhead

import (
	"syscall"
	"time"
)

// syncDisks writes dirty pages back before a measurement starts.
func syncDisks() { syscall.Sync() }

// processCPU is the CPU time (user and system, all threads) this process
// has used so far, or -1 when it cannot be read.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
