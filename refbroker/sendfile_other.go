//go:build !linux

package refbroker

import (
	"errors"
	"syscall"
)

// sendfileSupported: without sendfile the record bytes are written from
// the segments' mappings (the copying path of writeWithRanges).
const sendfileSupported = false

func sendRanges(syscall.RawConn, []byte, []outRange) error {
	return errors.New("sendfile not supported on this system")
}
