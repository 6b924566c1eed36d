package refbroker

import (
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// Zero-copy fetch responses. A Fetch response is mostly record bytes that
// already sit in memory-mapped segment files. Instead of copying them
// into the connection's output buffer (which then had to be as large as
// the whole response, and was regrown for every response above the kept
// size), Fetch's encoder writes only the fields around them into
// conn.out and notes each record range (outRange) at its position there;
// flush then hands out's pieces and the mapped ranges, in order, to one
// gathered write: writev(2) on a TCP connection, where the kernel copies
// from the mapping straight into the socket, and one Write per piece on
// TLS, which encrypts from the mapping into its own record buffer. The
// storage reads stay held (pendingOut.held) until the write is done or
// abandoned; a held read keeps its mapping, so a segment sealed
// (remapped) or deleted meanwhile still has its pages mapped.
//
// sendfile(2) from the segment files was tried first and cost the broker
// more CPU than writev from the mapping (figures in docs/performance.md),
// so it is not used.

// pendingOut is what a connection's pending responses send besides the
// bytes of conn.out, and the storage reads that keep those bytes valid.
// Serve goroutine only.
type pendingOut struct {
	ranges []outRange
	bytes  int                   // total length of ranges
	held   []*storage.ReadResult // released by reset, after the write
	next   int                   // held index source tries first
	bufs   net.Buffers           // scratch for the gathered write
}

// outRange is a run of mapped record bytes sent between conn.out's bytes.
type outRange struct {
	at   int    // position in conn.out the range goes before
	data []byte // a held read's Data
}

// hold keeps rs until the pending responses are written.
func (p *pendingOut) hold(rs []*storage.ReadResult) { p.held = append(p.held, rs...) }

// isHeld reports whether b is exactly a held read's Data. Fetch encodes
// partitions in the order it read them, so the next held read is tried
// first and a response of n partitions costs O(n).
func (p *pendingOut) isHeld(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i := range p.held {
		j := (p.next + i) % len(p.held)
		if r := p.held[j]; len(r.Data) == len(b) && unsafe.SliceData(r.Data) == unsafe.SliceData(b) {
			p.next = j + 1
			return true
		}
	}
	return false
}

// maxKeptRanges is the most held reads and ranges whose slices a
// connection keeps between responses; a fetch of more partitions (rare)
// gives them up, like conn.out above maxKeptBuffer.
const maxKeptRanges = 4096

// reset forgets the ranges and releases the held reads.
func (p *pendingOut) reset() {
	for _, r := range p.held {
		r.Release()
	}
	clear(p.held)
	clear(p.ranges)
	p.held, p.ranges = p.held[:0], p.ranges[:0]
	if cap(p.held) > maxKeptRanges || cap(p.ranges) > maxKeptRanges || cap(p.bufs) > 2*maxKeptRanges+1 {
		p.held, p.ranges, p.bufs = nil, nil, nil
	}
	p.bytes, p.next = 0, 0
}

// appendRecords appends a records field (nullable bytes, compact when
// flexible) to dst, which must be cc.out being encoded. Bytes that are
// exactly a held storage read's Data are left out and noted as a range,
// written from the mapping at flush; any other bytes (a test's intercept
// may replace them) are copied.
func (cc *conn) appendRecords(dst, b []byte, flexible bool) []byte {
	switch {
	case b == nil && flexible:
		return append(dst, 0)
	case b == nil:
		return kbin.AppendInt32(dst, -1)
	case flexible:
		dst = kbin.AppendUvarint(dst, 1+uint32(len(b)))
	default:
		dst = kbin.AppendInt32(dst, int32(len(b)))
	}
	if !cc.pending.isHeld(b) {
		return append(dst, b...)
	}
	cc.pending.ranges = append(cc.pending.ranges, outRange{at: len(dst), data: b})
	cc.pending.bytes += len(b)
	return dst
}

// errMappingFault is a fault reading a segment's mapping while writing it
// (the file was truncated behind the broker's back).
var errMappingFault = errors.New("fault reading a mapped segment")

// writeWithRanges writes cc.out with the pending ranges in their places.
func (cc *conn) writeWithRanges() (err error) {
	bufs := cc.pending.bufs[:0]
	prev := 0
	for _, r := range cc.pending.ranges {
		bufs = append(bufs, cc.out[prev:r.at], r.data)
		prev = r.at
	}
	bufs = append(bufs, cc.out[prev:])
	cc.pending.bufs = bufs
	defer clear(cc.pending.bufs) // drop references to the mappings
	// writev reports a bad page as EFAULT, but TLS reads the mapping in
	// user space: a page of a truncated file would be a SIGBUS, fatal
	// unless turned into a panic, recovered here into an error that
	// closes this connection only.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if _, fault := p.(interface{ Addr() uintptr }); !fault {
				panic(p)
			}
			err = fmt.Errorf("%w: %v", errMappingFault, p)
		}
	}()
	if bw, ok := cc.nc.(buffersWriter); ok {
		_, err = bw.writeBuffers(bufs)
		return err
	}
	w := bufs // WriteTo consumes its receiver
	_, err = w.WriteTo(cc.nc)
	return err
}

// buffersWriter is a connection that writes buffers in order with one
// gathered system call where it can (rawTCP).
type buffersWriter interface {
	writeBuffers(bufs [][]byte) (int64, error)
}
