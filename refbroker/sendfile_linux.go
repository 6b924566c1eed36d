//go:build linux

package refbroker

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendfileSupported: sendRanges uses sendfile(2).
const sendfileSupported = true

// maxSendfileChunk bounds one sendfile call, as the net package does, so
// that one call does not hold the socket for a whole large range.
const maxSendfileChunk = 4 << 20

// sendRanges writes out with ranges spliced in at their positions to the
// non-blocking socket behind rc: out's pieces with send(MSG_MORE) (the
// kernel then packs them with the record bytes that follow instead of
// sending a small segment each) and the ranges with sendfile from their
// files at explicit offsets (the files' own offsets are shared, never
// used). It waits for the socket through the runtime poller, so closing
// the connection (broker shutdown) ends a blocked send.
func sendRanges(rc syscall.RawConn, out []byte, ranges []outRange) error {
	var (
		opErr error
		prev  int // next byte of out to send
		next  int // next range to start
		cur   outRange
		left  int // bytes of cur still to send
	)
	err := rc.Write(func(fd uintptr) bool {
		for {
			if left > 0 {
				n, err := unix.Sendfile(int(fd), int(cur.f.Fd()), &cur.off, min(left, maxSendfileChunk))
				if n > 0 {
					left -= n
				}
				switch {
				case errors.Is(err, unix.EAGAIN):
					return false // wait until the socket is writable
				case errors.Is(err, unix.EINTR):
				case err != nil:
					opErr = fmt.Errorf("sendfile %s at %d: %w", cur.f.Name(), cur.off, err)
					return true
				case n == 0:
					// The file is shorter than what was read from it
					// (truncated behind the broker's back): the frame
					// cannot be completed, the connection must close.
					opErr = fmt.Errorf("sendfile %s at %d: %w", cur.f.Name(), cur.off, io.ErrUnexpectedEOF)
					return true
				}
				continue
			}
			end := len(out)
			if next < len(ranges) {
				end = ranges[next].at
			}
			if prev < end {
				flags := unix.MSG_NOSIGNAL
				if next < len(ranges) {
					flags |= unix.MSG_MORE
				}
				n, err := unix.SendmsgN(int(fd), out[prev:end], nil, nil, flags)
				if n > 0 {
					prev += n
				}
				switch {
				case errors.Is(err, unix.EAGAIN):
					return false
				case errors.Is(err, unix.EINTR):
				case err != nil:
					opErr = fmt.Errorf("send: %w", err)
					return true
				}
				continue
			}
			if next == len(ranges) {
				return true
			}
			cur, left = ranges[next], len(ranges[next].data)
			next++
		}
	})
	if err != nil {
		return err
	}
	return opErr
}
