//go:build linux

package refbroker

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// rawPair returns a connected pair over loopback: the server side wrapped
// by wrapRaw, and the client side as it is.
func rawPair(t *testing.T) (*rawTCP, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.FailNow()
	}
	raw, ok := wrapRaw(sc).(*rawTCP)
	if !ok {
		t.Fatalf("wrapRaw(%T) is not a rawTCP", sc)
	}
	t.Cleanup(func() { raw.Close(); cl.Close() })
	return raw, cl.(*net.TCPConn)
}

// TestRawTCPWriteBuffers writes more buffers than one writev takes, some
// empty, through a small send buffer and a slow reader, so that writes
// are partial and wait for room; the reader must get every byte in order.
func TestRawTCPWriteBuffers(t *testing.T) {
	raw, cl := rawPair(t)
	if err := raw.SetWriteBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	if err := cl.SetReadBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	var bufs [][]byte
	var want []byte
	for i := range 6000 {
		b := bytes.Repeat([]byte{byte(i)}, i%7*80) // every seventh empty
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	got := make(chan []byte, 1)
	go func() {
		var out []byte
		buf := make([]byte, 1000)
		for i := 0; len(out) < len(want); i++ {
			if i%16 == 0 {
				time.Sleep(time.Millisecond) // a slow reader: the writer waits for room
			}
			n, err := cl.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- out
	}()
	n, err := raw.writeBuffers(bufs)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("writeBuffers = %d, %v; want %d, nil", n, err, len(want))
	}
	if out := <-got; !bytes.Equal(out, want) {
		t.Fatalf("reader got %d bytes, not the %d written in order", len(out), len(want))
	}
}

// TestRawTCPErrors checks that rawTCP reports what net.TCPConn does: a
// deadline as os.ErrDeadlineExceeded, the peer's close as io.EOF or
// ECONNRESET, a write to the reset connection as EPIPE or ECONNRESET, and
// its own close as net.ErrClosed.
func TestRawTCPErrors(t *testing.T) {
	raw, cl := rawPair(t)

	if _, err := cl.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := io.ReadFull(raw, buf[:5]); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v; want hello", buf[:n], err)
	}

	if err := raw.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v; want os.ErrDeadlineExceeded", err)
	}
	if err := raw.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}

	big := make([]byte, 64<<20) // more than the socket buffers hold: the client reads nothing
	if err := raw.SetWriteDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := raw.Write(big); !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n == len(big) {
		t.Fatalf("write past the deadline: %d bytes, %v; want some bytes and os.ErrDeadlineExceeded", n, err)
	}

	cl.Close()
	if err := raw.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := raw.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	var err error
	for err == nil { // the part of big the client had buffered does not come back
		_, err = raw.Read(buf)
	}
	// The client closed with unread data, which resets the connection:
	// net.TCPConn reports ECONNRESET then, io.EOF if the reset came after
	// the read.
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the peer closed: %v; want io.EOF or ECONNRESET", err)
	}
	if _, err := raw.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("write to the reset connection: %v; want EPIPE or ECONNRESET", err)
	}

	raw.Close()
	if _, err := raw.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v; want net.ErrClosed", err)
	}
	if _, err := raw.writeBuffers([][]byte{[]byte("x")}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v; want net.ErrClosed", err)
	}
}

// TestRawTCPDoesNotAllocate keeps reads and writes free of allocations,
// as net.TCPConn's are: they run for every request.
func TestRawTCPDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's own allocations would be counted; run without -race")
	}
	raw, cl := rawPair(t)
	go func() { _, _ = io.Copy(io.Discard, cl) }()
	p := make([]byte, 100)
	bufs := make([][]byte, 2)
	paths := map[string]func(){
		"Write": func() { _, _ = raw.Write(p) },
		"writeBuffers": func() {
			bufs[0], bufs[1] = p, p
			_, _ = raw.writeBuffers(bufs)
		},
	}
	rawIn, clOut := rawPair(t)
	go func() {
		for {
			if _, err := clOut.Write(p); err != nil {
				return
			}
		}
	}()
	in := make([]byte, 100)
	paths["Read"] = func() { _, _ = rawIn.Read(in) }
	for name, path := range paths {
		path()
		if n := testing.AllocsPerRun(1000, path); n != 0 {
			t.Errorf("%s: %.1f allocations per call, want 0", name, n)
		}
	}
}
