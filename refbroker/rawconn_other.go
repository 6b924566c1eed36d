//go:build !linux

package refbroker

import "net"

// wrapRaw is the identity where raw socket calls are not used (see
// rawconn_linux.go).
func wrapRaw(nc net.Conn) net.Conn { return nc }
