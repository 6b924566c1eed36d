package refbroker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// pipelineDepth is how many request frames a connection reads ahead of
	// the one being handled. kgo pipelines up to 5 produce requests per
	// connection; reading them ahead lets their responses share one write.
	pipelineDepth = 5
	// maxCoalescedBytes flushes pending responses once they reach this
	// size, bounding latency and memory of coalesced writes.
	maxCoalescedBytes = 1 << 20
	// maxKeptBuffer is the largest frame or output buffer kept for reuse
	// between requests; a bigger one (a rare huge fetch) is dropped so
	// idle connections do not pin it.
	maxKeptBuffer = 8 << 20
	// readBufferSize is the size of the buffered reader on each socket.
	readBufferSize = 64 << 10
	// readChunk is the most readBody reads before handing the new bytes
	// to the frame's produceScan: small enough that they are still in
	// the CPU's cache (L2) when they are summed and checked, large enough
	// (at least readBufferSize) that bufio reads straight into the
	// frame and each read is one syscall for many packets.
	readChunk = 256 << 10
)

// frame is one request read off the wire: the bytes after the size prefix.
type frame struct {
	buf []byte  // backing store, reused when the handler allows it
	api *apiKey // the key's registration; nil for a key not served
	// scan holds what the reader found about a Produce request's
	// batches while they arrived (CRCs, validation); the handler reads
	// it through conn.scan.
	scan produceScan
	// spare is the slot's own buffer (at most maxKeptBuffer) while buf
	// is a bigger one from the framePool, which recycle gives back:
	// the slot then has spare again rather than nothing, so its next
	// small request does not regrow from 64 KiB.
	spare []byte
}

// conn serves one client connection. A reader goroutine reads frames ahead
// into a bounded channel; the serve goroutine handles them one at a time in
// order and writes responses in request order, as Kafka does.
type conn struct {
	b      *Broker
	nc     net.Conn
	remote string
	log    *slog.Logger

	clientID string    // client ID of the request being handled
	auth     authState // principal and SASL progress; serve goroutine only
	// out holds the encoded responses not yet written, except the record
	// bytes that pending writes from the segments' mappings (fetch's
	// zero-copy path, zerocopy.go); serve goroutine only.
	out     []byte
	pending pendingOut // what is written between out's bytes, and what it holds
	// scan is the arrival scan of the frame being handled
	// (produceScan); nil between frames. Serve goroutine only.
	scan *produceScan

	// inflight counts the bytes of requests read and not yet handled;
	// the reader waits (handled signals) rather than buffer more than
	// Config.MaxInFlightBytes, so a client that pipelines large requests
	// behind a long poll cannot pin unbounded memory.
	inflight atomic.Int64
	handled  chan struct{}
}

// newConn wraps an accepted connection (a plaintext TCP one in a rawTCP,
// where there is one: rawconn_linux.go).
func newConn(b *Broker, nc net.Conn) *conn {
	remote := "unknown"
	if nc != nil && nc.RemoteAddr() != nil {
		remote = nc.RemoteAddr().String()
	}
	return &conn{b: b, nc: wrapRaw(nc), remote: remote, log: b.log.With("remote", remote), handled: make(chan struct{}, 1)}
}

// serve runs the connection until the client disconnects, a request is
// malformed, or ctx (the broker's) is done. It closes the socket.
func (cc *conn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	// Closing the socket when ctx is done unblocks the reader and any
	// write in progress.
	stop := context.AfterFunc(ctx, func() { cc.nc.Close() })
	defer stop()

	frames := make(chan *frame, pipelineDepth-1)
	free := make(chan *frame, pipelineDepth)
	for range pipelineDepth {
		free <- &frame{}
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		cc.readLoop(ctx, cancel, frames, free)
	}()
	// serve returns only after the reader has stopped, so Broker.Close,
	// which waits for serve, leaves no goroutine behind.
	defer func() {
		cancel()
		cc.nc.Close()
		<-readDone
		// Storage reads of responses not yet flushed when the
		// connection ends (its context done between requests) are
		// released here, whatever the path out.
		cc.discardOutput()
	}()

	for {
		var f *frame
		select {
		case f = <-frames:
		case <-ctx.Done():
			return
		}
		if f == nil { // reader closed the channel: a bad frame or the end
			_ = cc.flush() // answers owed for the requests before it
			return
		}
		// A request that may block must not hold back responses
		// already encoded for earlier pipelined requests.
		if len(cc.out) > 0 && f.api != nil && f.api.wait == mayBlock {
			if err := cc.flush(); err != nil {
				return
			}
		}
		cc.scan = &f.scan
		err := cc.handleFrame(ctx, f.buf)
		cc.scan = nil
		if err != nil {
			// The requests before this one were good: their answers
			// (a stored Produce's among them) go out first.
			_ = cc.flush()
			cc.logClose(err)
			return
		}
		cc.inflight.Add(-int64(len(f.buf)))
		select {
		case cc.handled <- struct{}{}:
		default: // a wake-up is already pending
		}
		cc.recycle(f, free)
		if len(frames) == 0 || len(cc.out)+cc.pending.bytes >= maxCoalescedBytes {
			if err := cc.flush(); err != nil {
				cc.log.Debug("refbroker: write failed, closing connection", "err", err)
				return
			}
		}
	}
}

// recycle returns a frame's slot to the reader. Only the buffers of keys
// registered with releasesFrame are reused; the others (JoinGroup, whose
// protocol metadata the coordinator keeps, among them) give it up. A
// buffer above maxKeptBuffer goes to the broker's framePool instead of
// staying with this connection. Either way the slot gets back its spare.
func (cc *conn) recycle(f *frame, free chan<- *frame) {
	f.release(&cc.b.frames)
	free <- f
}

// release ends the frame's request: its buffer is kept, given to pool or
// given up (see recycle), and the slot gets its spare back.
func (f *frame) release(pool *framePool) {
	switch {
	case f.api == nil || f.api.frame != releasesFrame:
		f.buf = f.spare
	case cap(f.buf) > maxKeptBuffer:
		pool.put(f.buf)
		f.buf = f.spare
	}
	f.spare = nil
	f.api = nil
	f.scan.reset() // drops its reference to the buffer, given up or not
}

// fill reads an n-byte request body into the frame (readBody), scanning
// it as it arrives. When the body goes into a buffer bigger than
// maxKeptBuffer (from pool, or grown), the slot's own buffer is kept as
// spare for release to hand back.
func (f *frame) fill(r io.Reader, n int, pool *framePool) error {
	f.scan.reset()
	own := f.buf // at most maxKeptBuffer: release keeps no bigger one
	var err error
	f.buf, err = readBody(r, f.buf, n, pool, &f.scan)
	if cap(f.buf) > maxKeptBuffer && cap(own) > 0 {
		f.spare = own
	}
	return err
}

// logClose logs why the connection is being closed.
func (cc *conn) logClose(err error) {
	if errors.Is(err, context.Canceled) {
		cc.log.Debug("refbroker: connection closed", "reason", err)
		return
	}
	cc.log.Warn("refbroker: closing connection", "reason", err)
}

// readLoop reads size-prefixed frames into slots from free and queues them
// on frames. A read error (the client is gone) cancels the connection; an
// invalid size does not, so that the requests queued before it are still
// answered. Either ends the loop and closes frames.
func (cc *conn) readLoop(ctx context.Context, cancel context.CancelFunc, frames chan<- *frame, free <-chan *frame) {
	defer close(frames)
	r := bufio.NewReaderSize(cc.nc, readBufferSize)
	var sizeBuf [4]byte
	for {
		var f *frame
		select {
		case f = <-free:
		case <-ctx.Done():
			return
		}
		// Idle until a request starts, then a bounded time to read it:
		// neither a silent client nor a trickling one holds a connection.
		_ = cc.nc.SetReadDeadline(time.Now().Add(cc.b.cfg.IdleTimeout))
		if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
			cancel()
			cc.logReadErr(ctx, err)
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || size > cc.b.cfg.MaxRequestBytes {
			// 8 bytes is the smallest header: key, version, correlation ID.
			cc.log.Warn("refbroker: closing connection: bad request size", "size", size, "max", cc.b.cfg.MaxRequestBytes)
			return
		}
		// One request is always read, however large (up to
		// MaxRequestBytes); more wait until there is room.
		for n := cc.inflight.Load(); n > 0 && n+int64(size) > cc.b.cfg.MaxInFlightBytes; n = cc.inflight.Load() {
			select {
			case <-cc.handled:
			case <-ctx.Done():
				return
			}
		}
		cc.inflight.Add(int64(size))
		_ = cc.nc.SetReadDeadline(time.Now().Add(cc.b.cfg.RequestReadTimeout))
		if err := f.fill(r, int(size), &cc.b.frames); err != nil {
			cancel()
			cc.logReadErr(ctx, fmt.Errorf("read %d-byte request: %w", size, err))
			return
		}
		f.api = lookupKey(int16(binary.BigEndian.Uint16(f.buf)))
		select {
		case frames <- f:
		case <-ctx.Done():
			return
		}
	}
}

// readBody reads an n-byte request body into buf, or into a buffer from
// pool (which may be nil) when buf is too small. Memory grows with the
// bytes that actually arrive (doubling from 64 KiB), not with the size
// the prefix claims: a 4-byte prefix promising 100 MiB costs 64 KiB until
// the client sends more. Capacities are powers of two so that pool can
// hand the buffer to the next request of the same size class; a buffer
// outgrown on the way goes to pool. It reads at most readChunk bytes at a
// time and feeds each chunk to scan (which may be nil) while the chunk is
// still in cache.
func readBody(r io.Reader, buf []byte, n int, pool *framePool, scan *produceScan) ([]byte, error) {
	if cap(buf) < n {
		if pooled := pool.get(n); pooled != nil {
			buf = pooled
		}
	}
	buf = buf[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			next := make([]byte, len(buf), min(max(2*cap(buf), 64<<10), 1<<bits.Len(uint(n-1))))
			copy(next, buf)
			pool.put(buf)
			buf = next
		}
		m, err := io.ReadFull(r, buf[len(buf):min(n, cap(buf), len(buf)+readChunk)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
		if scan != nil {
			scan.feed(buf)
		}
	}
	return buf, nil
}

func (cc *conn) logReadErr(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		cc.log.Debug("refbroker: connection ended", "err", err)
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		cc.log.Info("refbroker: closing connection: idle, or too slow sending a request", "err", err,
			"idle_timeout", cc.b.cfg.IdleTimeout, "request_read_timeout", cc.b.cfg.RequestReadTimeout)
		return
	}
	cc.log.Warn("refbroker: closing connection: read failed", "err", err)
}

// flush writes the pending responses, record bytes from the segments'
// mappings included, then releases the storage reads they came from.
func (cc *conn) flush() error {
	if len(cc.out) == 0 {
		cc.discardOutput()
		return nil
	}
	// A client that stops reading would hold this goroutine, the
	// response's storage reads (segment mappings, files of deleted
	// topics) and, once its pipeline is full, its reader, which then
	// waits for room rather than on a socket read with a deadline. Kafka
	// closes a connection without activity for connections.max.idle.ms;
	// an unread response is such a connection.
	_ = cc.nc.SetWriteDeadline(time.Now().Add(cc.b.cfg.IdleTimeout))
	var err error
	if len(cc.pending.ranges) == 0 {
		_, err = cc.nc.Write(cc.out)
	} else {
		err = cc.writeWithRanges()
	}
	cc.discardOutput()
	if err != nil {
		return fmt.Errorf("write responses to %s: %w", cc.remote, err)
	}
	return nil
}

// discardOutput forgets the pending responses (written or not) and
// releases the storage reads they held.
func (cc *conn) discardOutput() {
	if cap(cc.out) > maxKeptBuffer {
		cc.out = nil
	} else {
		cc.out = cc.out[:0]
	}
	cc.pending.reset()
}

// requestHeader is the parsed Kafka request header.
type requestHeader struct {
	key, version int16
	corr         int32
	clientID     string
}

// handleFrame decodes one request, dispatches it and appends its encoded
// response (if any) to cc.out. An error means the connection must close.
func (cc *conn) handleFrame(ctx context.Context, body []byte) error {
	r := kbin.Reader{Src: body}
	var h requestHeader
	h.key, h.version, h.corr = r.Int16(), r.Int16(), r.Int32()
	if cid := r.NullableString(); cid != nil {
		h.clientID = *cid
	}
	if !r.Ok() {
		return fmt.Errorf("%w: truncated request header (%d bytes)", errCloseConn, len(body))
	}
	cc.clientID = h.clientID
	api := lookupKey(h.key)
	start := time.Now()
	resp, err := cc.dispatchRecovering(ctx, api, h, &r)
	if err != nil {
		return err
	}
	if resp != nil {
		cc.appendResponse(h.corr, api, resp)
	}
	if err := cc.auth.closeAfterReply; err != nil { // a failed SASL authentication
		return err
	}
	if d := time.Since(start); d > time.Second && (api == nil || api.wait != mayBlock) {
		cc.log.Info("refbroker: slow request", "key", kmsg.NameForKey(h.key), "version", h.version, "took", d)
	}
	return nil
}

// dispatchRecovering dispatches one request and turns a panic in its
// handler into an error that closes this connection only: the panic is
// logged with its stack and the broker keeps serving everyone else.
// Handlers release their locks with defer, so a panic leaves none held.
func (cc *conn) dispatchRecovering(ctx context.Context, api *apiKey, h requestHeader, r *kbin.Reader) (resp kmsg.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			cc.b.handlerPanics.Add(1)
			cc.log.Error("refbroker: request handler panicked; closing the connection, the broker keeps running",
				"key", kmsg.NameForKey(h.key), "version", h.version, "client", h.clientID, "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("%w: %s handler panicked: %v", errCloseConn, kmsg.NameForKey(h.key), p)
		}
	}()
	return dispatch(ctx, cc, api, h, r)
}

// appendResponse encodes resp, the answer to a request of key api, with
// its response header onto cc.out. A key with an encoder (Fetch) may
// leave record bytes out of cc.out, to be written from their segments'
// mappings at flush; the size prefix counts them.
func (cc *conn) appendResponse(corr int32, api *apiKey, resp kmsg.Response) {
	start, ranged := len(cc.out), cc.pending.bytes
	cc.out = append(cc.out, 0, 0, 0, 0, 0, 0, 0, 0) // size + correlation ID
	// Response header v1 (flexible) carries an empty tag section, except
	// for keys registered with headerV0.
	if resp.IsFlexible() && !api.headerV0 {
		cc.out = append(cc.out, 0)
	}
	if api.encode != nil {
		cc.out = api.encode(cc, cc.out, resp)
	} else {
		cc.out = resp.AppendTo(cc.out)
	}
	size := len(cc.out) - start - 4 + cc.pending.bytes - ranged
	binary.BigEndian.PutUint32(cc.out[start:], uint32(size))
	binary.BigEndian.PutUint32(cc.out[start+4:], uint32(corr))
}
