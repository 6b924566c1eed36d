//go:build linux

package e2e_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// The machine's floor. A broker's CPU per GB is mostly the kernel's on a
// small machine: the socket copy, and on produce the copy into page-cache
// pages the kernel must first allocate. What those cost is a property of
// the machine, and on a VM of its memory history too: a guest page the
// host has not backed yet (never touched, or freed and returned by free
// page reporting) costs an exit to the host on first touch, so writing a
// GiB into a new file takes from 0.2 to 2.7 CPU-seconds on the same VM
// (docs/performance.md). The floor is the least any broker pays for the
// same bytes on the same machine in the same state: one thread that does
// only the unavoidable system calls, with buffers at least as large as the
// broker's. The benchmark reports the broker's CPU next to it, measured in
// the same run, the way the loopback ceiling puts MB/s next to the
// machine's.

// floorChunk is the floors' read and write size: 1 MiB, as large as the
// broker's largest, so that per-call costs cannot make a floor higher.
const floorChunk = 1 << 20

// threadCPU returns the calling OS thread's CPU time. The floors run
// their work on one locked thread with blocking system calls only, so this
// is all of their work (but for softirq work the kernel runs elsewhere, as
// it does for the broker).
func threadCPU() (cpuTimes, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return cpuTimes{}, fmt.Errorf("getrusage(RUSAGE_THREAD): %w", err)
	}
	return cpuTimes{user: time.Duration(ru.Utime.Nano()), sys: time.Duration(ru.Stime.Nano())}, nil
}

// floorRun runs one floor: serve, on a locked OS thread, with the
// descriptor of a loopback TCP connection in blocking mode, and client on
// the connection's other end. It returns the serving thread's CPU time in
// serve; the client's work is not counted, as a broker's clients' is not.
func floorRun(serve func(sock int) error, client func(c net.Conn) error) (cpuTimes, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return cpuTimes{}, err
	}
	defer ln.Close()
	type result struct {
		cpu cpuTimes
		err error
	}
	done := make(chan result, 1)
	go func() {
		cpu, err := floorServe(ln, serve)
		done <- result{cpu, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return cpuTimes{}, err
	}
	if err := client(c); err != nil {
		c.Close() // ends serve's blocking calls
		<-done
		return cpuTimes{}, err
	}
	r := <-done
	c.Close()
	return r.cpu, r.err
}

// floorServe accepts one connection on ln and runs serve as floorRun
// says.
func floorServe(ln net.Listener, serve func(sock int) error) (cpuTimes, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, err := ln.Accept()
	if err != nil {
		return cpuTimes{}, fmt.Errorf("accept: %w", err)
	}
	f, err := c.(*net.TCPConn).File() // a dup, closed below
	c.Close()
	if err != nil {
		return cpuTimes{}, fmt.Errorf("socket descriptor: %w", err)
	}
	defer f.Close()
	sock := int(f.Fd()) // Fd puts the descriptor in blocking mode
	before, err := threadCPU()
	if err != nil {
		return cpuTimes{}, err
	}
	if err := serve(sock); err != nil {
		return cpuTimes{}, err
	}
	after, err := threadCPU()
	if err != nil {
		return cpuTimes{}, err
	}
	return cpuTimes{user: after.user - before.user, sys: after.sys - before.sys}, nil
}

// writeAll writes b to fd, retrying short writes and EINTR.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// produceFloor measures the least CPU a broker that reads the bytes (as
// one that checks them must) spends to take bytes from a loopback TCP
// connection and append them to a file: 1 MiB reads into one buffer, each
// written at the end of a new file at path, fdatasync every second
// (refbroker's default --fsync interval). It returns the receiving
// thread's CPU time.
func produceFloor(path string, bytes int64) (cpuTimes, error) {
	return floorRun(func(sock int) error {
		out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer out.Close()
		fd := int(out.Fd())
		buf := make([]byte, floorChunk)
		synced := time.Now()
		for got := int64(0); got < bytes; {
			n, err := unix.Read(sock, buf)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			if n == 0 {
				return fmt.Errorf("read: %w after %d of %d bytes", io.ErrUnexpectedEOF, got, bytes)
			}
			if err := writeAll(fd, buf[:n]); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			got += int64(n)
			if time.Since(synced) >= time.Second {
				if err := unix.Fdatasync(fd); err != nil {
					return fmt.Errorf("fdatasync %s: %w", path, err)
				}
				synced = time.Now()
			}
		}
		return nil
	}, func(c net.Conn) error {
		buf := make([]byte, floorChunk)
		for i := range buf {
			buf[i] = byte(i * 131) // what is written does not matter; not zeros all the same
		}
		for sent := int64(0); sent < bytes; {
			n := min(int64(len(buf)), bytes-sent)
			if _, err := c.Write(buf[:n]); err != nil {
				return fmt.Errorf("send: %w", err)
			}
			sent += n
		}
		return nil
	})
}

// consumeFloor measures the least CPU a broker spends to send the bytes
// of the file at path (as written by produceFloor, so in the page cache)
// to a loopback TCP connection: the file mapped once, written to the
// socket from the mapping 1 MiB at a time, as refbroker's zero-copy fetch
// does with writev (sendfile cost more; docs/performance.md).
func consumeFloor(path string) (cpuTimes, error) {
	st, err := os.Stat(path)
	if err != nil {
		return cpuTimes{}, err
	}
	bytes := st.Size()
	return floorRun(func(sock int) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		m, err := unix.Mmap(int(f.Fd()), 0, int(bytes), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("mmap %s: %w", path, err)
		}
		defer unix.Munmap(m)
		for off := 0; off < len(m); off += floorChunk {
			if err := writeAll(sock, m[off:min(off+floorChunk, len(m))]); err != nil {
				return fmt.Errorf("send: %w", err)
			}
		}
		return nil
	}, func(c net.Conn) error {
		if _, err := io.CopyN(io.Discard, c, bytes); err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		return nil
	})
}
