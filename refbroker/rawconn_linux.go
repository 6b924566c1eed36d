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
	rc syscall.RawConn

	// The functions handed to rc and their arguments and results live
	// here, built once by wrapRaw: a closure made per call would escape
	// through the RawConn interface, an allocation per request.

	// Read's; the reader goroutine only.
	readFn func(fd uintptr) bool
	rbuf   []byte
	rn     int
	rerrno syscall.Errno

	// writeBuffers'; the serve goroutine only.
	writeFn func(fd uintptr) bool
	wbufs   [][]byte
	wtotal  int64
	werrno  syscall.Errno
	iov     []unix.Iovec
	one     [1][]byte // Write's single buffer
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
	c := &rawTCP{TCPConn: tc, rc: rc}
	c.readFn, c.writeFn = c.readOnce, c.writeSome
	return c
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
	c.rbuf, c.rn, c.rerrno = p, 0, 0
	err := c.rc.Read(c.readFn)
	c.rbuf = nil
	switch {
	case err != nil:
		return 0, err // already a *net.OpError
	case c.rerrno != 0:
		return 0, c.opErr("read", os.NewSyscallError("read", c.rerrno))
	case c.rn == 0:
		return 0, io.EOF
	}
	return c.rn, nil
}

// readOnce is Read's function for rc: one read(2) into c.rbuf, false
// (wait until readable) when there is nothing to read yet.
func (c *rawTCP) readOnce(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rbuf[0])), uintptr(len(c.rbuf)))
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		c.rn, c.rerrno = int(r), e
		return true
	}
}

// Write writes p whole, as net.Conn's Write does.
func (c *rawTCP) Write(p []byte) (int, error) {
	c.one[0] = p
	n, err := c.writeBuffers(c.one[:])
	c.one[0] = nil
	return int(n), err
}

// maxIovecs is the most buffers one writev(2) takes (IOV_MAX on Linux).
const maxIovecs = 1024

// writeBuffers writes bufs in order with writev(2) as a raw system call,
// all of them unless an error (the deadline, a closed connection, or
// EFAULT for a mapping whose file was cut short) stops it first, and
// returns the bytes written. Like net.Buffers' WriteTo it consumes bufs:
// its elements are resliced past what was written.
func (c *rawTCP) writeBuffers(bufs [][]byte) (int64, error) {
	c.wbufs, c.wtotal, c.werrno = bufs, 0, 0
	err := c.rc.Write(c.writeFn)
	c.wbufs = nil
	switch {
	case err != nil:
		return c.wtotal, err // already a *net.OpError
	case c.werrno != 0:
		return c.wtotal, c.opErr("write", os.NewSyscallError("writev", c.werrno))
	}
	return c.wtotal, nil
}

// writeSome is writeBuffers' function for rc: writev(2) of c.wbufs until
// they are all written (true), the socket is full (false: wait until
// writable) or the call fails (true, with c.werrno).
func (c *rawTCP) writeSome(fd uintptr) bool {
	for {
		iov := c.iov[:0]
		for _, b := range c.wbufs {
			if len(iov) == maxIovecs {
				break
			}
			if len(b) > 0 {
				v := unix.Iovec{Base: &b[0]}
				v.SetLen(len(b))
				iov = append(iov, v)
			}
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
			return false
		default:
			c.werrno = e
			return true
		}
		c.wtotal += int64(r)
		for bufs := c.wbufs; r > 0; bufs = bufs[1:] {
			k := min(int(r), len(bufs[0]))
			bufs[0] = bufs[0][k:]
			r -= uintptr(k)
			c.wbufs = bufs
		}
	}
}
