//go:build unix

package overhead

import "syscall"

// syncDisks writes dirty pages back before a measurement starts.
func syncDisks() { syscall.Sync() }
