package refbroker

import (
	"net"
	"os"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// Zero-copy fetch responses. A Fetch response is mostly record bytes that
// already sit in segment files. Instead of copying them into the
// connection's output buffer (which then had to be as large as the whole
// response), Fetch's encoder writes only the fields around them into
// conn.out and notes each record range (outRange) at its position there;
// flush then sends out's bytes and the ranges in order: with sendfile(2)
// from the segment file on a plain TCP connection (the kernel moves page
// cache pages to the socket, nothing is copied or faulted in user space),
// and by writing from the segment's mapping otherwise (TLS, which must
// encrypt every byte, or a system without sendfile). The storage reads
// stay held (pendingOut.held) until the write is done or abandoned, so a
// segment deleted or sealed meanwhile keeps its file and mapping.

// pendingOut is what a connection's pending responses send besides the
// bytes of conn.out, and the storage reads that keep those bytes valid.
// Serve goroutine only.
type pendingOut struct {
	ranges []outRange
	bytes  int                   // total length of ranges
	held   []*storage.ReadResult // released by reset, after the write
	next   int                   // held index source tries first
	bufs   net.Buffers           // scratch of the copying path
}

// outRange is a run of record bytes sent between conn.out's bytes.
type outRange struct {
	at   int      // position in conn.out the range goes before
	data []byte   // the bytes, in the segment's mapping (copying path)
	f    *os.File // the segment file holding data (sendfile path)
	off  int64    // position of data in f
}

// hold keeps rs until the pending responses are written.
func (p *pendingOut) hold(rs []*storage.ReadResult) { p.held = append(p.held, rs...) }

// source returns the held read whose Data is exactly b, or nil. Fetch
// encodes partitions in the order it read them, so the next held read is
// tried first and a response of n partitions costs O(n).
func (p *pendingOut) source(b []byte) *storage.ReadResult {
	if len(b) == 0 {
		return nil
	}
	for i := range p.held {
		j := (p.next + i) % len(p.held)
		if r := p.held[j]; len(r.Data) == len(b) && unsafe.SliceData(r.Data) == unsafe.SliceData(b) {
			p.next = j + 1
			return r
		}
	}
	return nil
}

// reset forgets the ranges and releases the held reads.
func (p *pendingOut) reset() {
	for _, r := range p.held {
		r.Release()
	}
	clear(p.held)
	p.held = p.held[:0]
	clear(p.ranges)
	p.ranges = p.ranges[:0]
	p.bytes, p.next = 0, 0
}

// appendRecords appends a records field (nullable bytes, compact when
// flexible) to dst, which must be cc.out being encoded. Bytes that are
// exactly a held storage read's Data are left out and noted as a range,
// sent from the segment file at flush; any other bytes (a test's
// intercept may replace them) are copied.
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
	r := cc.pending.source(b)
	if r == nil {
		return append(dst, b...)
	}
	f, off := r.File()
	if f == nil {
		return append(dst, b...)
	}
	cc.pending.ranges = append(cc.pending.ranges, outRange{at: len(dst), data: b, f: f, off: off})
	cc.pending.bytes += len(b)
	return dst
}

// writeWithRanges writes cc.out with the pending ranges in their places.
func (cc *conn) writeWithRanges() error {
	if tc, ok := cc.nc.(*net.TCPConn); ok && sendfileSupported {
		rc, err := tc.SyscallConn()
		if err == nil {
			return sendRanges(rc, cc.out, cc.pending.ranges)
		}
	}
	// Copying path: the record bytes go from the mapping to the
	// connection's own Write (TLS encrypts them into its record buffer);
	// they are never gathered into a response-sized buffer here.
	bufs := cc.pending.bufs[:0]
	prev := 0
	for _, r := range cc.pending.ranges {
		bufs = append(bufs, cc.out[prev:r.at], r.data)
		prev = r.at
	}
	bufs = append(bufs, cc.out[prev:])
	cc.pending.bufs = bufs
	w := bufs // WriteTo consumes its receiver
	_, err := w.WriteTo(cc.nc)
	clear(cc.pending.bufs) // drop references to the mapping
	return err
}
