//go:build linux

package refbroker

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawTCP is a plaintext TCP connection whose reads and gathered writes
// are raw system calls on its non-blocking socket, through
// syscall.RawConn (which waits for readiness in the netpoller and keeps
// the deadlines). A system call made the ordinary way tells the Go
// scheduler it may block, and the first one after every thread went idle
// wakes the runtime's monitor thread, which then polls every 20 us for at
// least a millisecond. A request-response server goes idle between
// requests, so that cost came with every request: 13 % of the broker's
// consume CPU on the AMD VM of docs/performance.md. A read or write on a
// non-blocking socket cannot block (it copies what fits, or fails with
// EAGAIN), so it needs none of that; writes to files, which can block,
// keep the ordinary calls.
type rawTCP struct {
	*net.TCPConn
	rc  syscall.RawConn
	iov []unix.Iovec // writeBuffers' scratch; the serve goroutine only
}

// wrapRaw returns nc as a rawTCP when it is a plaintext TCP connection,
// and nc otherwise.
func wrapRaw(nc net.Conn) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	return &rawTCP{TCPConn: tc, rc: rc}
}

// opErr wraps err as the net package does for a TCP connection's errors.
func (c *rawTCP) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read reads from the socket with read(2) as a raw system call.
func (c *rawTCP) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait until readable
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err // already a *net.OpError
	case errno != 0:
		return 0, c.opErr("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes p whole, as net.Conn's Write does.
func (c *rawTCP) Write(p []byte) (int, error) {
	n, err := c.writeBuffers([][]byte{p})
	return int(n), err
}

// maxIovecs is the most buffers one writev(2) takes (IOV_MAX on Linux).
const maxIovecs = 1024

// writeBuffers writes bufs in order with writev(2) as a raw system call,
// all of them unless an error (the deadline, a closed connection, or
// EFAULT for a mapping whose file was cut short) stops it first, and
// returns the bytes written.
func (c *rawTCP) writeBuffers(bufs [][]byte) (int64, error) {
	var total int64
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			iov := c.iov[:0]
			for _, b := range bufs {
				if len(iov) == maxIovecs {
					break
				}
				if len(b) == 0 {
					continue
				}
				v := unix.Iovec{Base: &b[0]}
				v.SetLen(len(b))
				iov = append(iov, v)
			}
			c.iov = iov
			if len(iov) == 0 {
				return true
			}
			r, _, e := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
			clear(iov) // no references to the buffers past this call
			switch e {
			case 0:
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait until writable
			default:
				errno = e
				return true
			}
			total += int64(r)
			for r > 0 {
				if k := min(int(r), len(bufs[0])); k < len(bufs[0]) {
					bufs[0] = bufs[0][k:]
					r -= uintptr(k)
				} else {
					bufs = bufs[1:]
					r -= uintptr(k)
				}
			}
			for len(bufs) > 0 && len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
	})
	switch {
	case err != nil:
		return total, err // already a *net.OpError
	case errno != 0:
		return total, c.opErr("write", os.NewSyscallError("writev", errno))
	}
	return total, nil
}
