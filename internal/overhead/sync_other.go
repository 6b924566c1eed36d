//go:build !unix

package overhead

// syncDisks has no portable equivalent here; the measurements run on Linux.
func syncDisks() {}
