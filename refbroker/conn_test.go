package refbroker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// dialRaw opens a plain TCP connection to b, closed at cleanup.
func dialRaw(t *testing.T, b *Broker) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// requestFrame encodes req as a full frame with a v1/v2 request header.
func requestFrame(req kmsg.Request, corr int32) []byte {
	buf := []byte{0, 0, 0, 0}
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(corr))
	buf = append(buf, 0, 4) // client ID length 4
	buf = append(buf, "test"...)
	if req.IsFlexible() {
		buf = append(buf, 0) // no header tags
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	return buf
}

// rawFrame builds a frame with an arbitrary header and body.
func rawFrame(key, version int16, corr int32, body []byte) []byte {
	buf := binary.BigEndian.AppendUint32(nil, uint32(8+2+len(body)))
	buf = binary.BigEndian.AppendUint16(buf, uint16(key))
	buf = binary.BigEndian.AppendUint16(buf, uint16(version))
	buf = binary.BigEndian.AppendUint32(buf, uint32(corr))
	buf = append(buf, 0xff, 0xff) // null client ID
	return append(buf, body...)
}

// readResponse reads one response frame and returns the correlation ID and
// the bytes after it.
func readResponse(t *testing.T, c net.Conn) (int32, []byte) {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("read response: %v", err)
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:]
}

// rawRequest sends req at exactly its version on a fresh connection and
// decodes the answer.
func rawRequest(t *testing.T, b *Broker, req kmsg.Request) kmsg.Response {
	t.Helper()
	c := dialRaw(t, b)
	if _, err := c.Write(requestFrame(req, 1)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, body := readResponse(t, c)
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:] // empty response header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode %T v%d: %v", resp, resp.GetVersion(), err)
	}
	return resp
}

// expectClosed asserts the broker closes c without answering.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	var one [1]byte
	n, err := c.Read(one[:])
	if err == nil || n != 0 {
		t.Fatalf("connection still open: read %d bytes, err %v", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("broker did not close the connection: %v", err)
	}
}

// apiVersionsOK sends an ApiVersions v3 on a fresh connection and checks
// the broker answers: the liveness probe after each bad-input case.
func apiVersionsOK(t *testing.T, b *Broker) {
	t.Helper()
	c := dialRaw(t, b)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 3, "test", "1.0"
	if _, err := c.Write(requestFrame(req, 7)); err != nil {
		t.Fatalf("write: %v", err)
	}
	corr, body := readResponse(t, c)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	if err := resp.ReadFrom(body); err != nil || corr != 7 || resp.ErrorCode != 0 || len(resp.ApiKeys) < 10 {
		t.Fatalf("ApiVersions: corr %d err %v code %d keys %d", corr, err, resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	t.Parallel()
	b := newBroker(t, func(c *Config) { c.MaxRequestBytes = 1 << 20 })
	// A kgo client whose connections must survive every bad frame.
	cl := newClient(t, b, kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("survivor"))
	ctx := testCtx(t, 30*time.Second)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatalf("produce before: %v", err)
	}
	tests := []struct {
		name  string
		frame []byte
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"oversized frame", binary.BigEndian.AppendUint32(nil, 1<<20+1)},
		{"negative size", []byte{0x80, 0, 0, 0, 0, 0, 0, 0}},
		{"size below header", []byte{0, 0, 0, 3, 0, 0, 0}},
		{"unknown API key", rawFrame(9999, 0, 1, nil)},
		{"unserved API key (DescribeAcls)", rawFrame(29, 1, 1, []byte{1, 0, 0, 0, 0, 0})},
		{"version above range", rawFrame(3, 99, 1, nil)},
		{"truncated body", rawFrame(3, 1, 1, []byte{0, 0, 0, 5, 0, 1})},
		{"produce with bogus array length", rawFrame(0, 7, 1, []byte{0xff, 0xff, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff})},
	}
	// acks=0 gets no response, so a failed partition closes the
	// connection instead (Kafka's behaviour).
	acks0 := kmsg.NewPtrProduceRequest()
	acks0.Version, acks0.Acks = 9, 0
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "no-such-topic"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = testBatch("x", -1, -1)
	pt.Partitions = append(pt.Partitions, pp)
	acks0.Topics = append(acks0.Topics, pt)
	tests = append(tests, struct {
		name  string
		frame []byte
	}{"acks=0 produce that fails", requestFrame(acks0, 1)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, b)
			if _, err := c.Write(tt.frame); err != nil {
				t.Fatalf("write: %v", err)
			}
			expectClosed(t, c)
			apiVersionsOK(t, b)
		})
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after bad frames: %v", err)
	}
}

func TestApiVersionsFallbackV0(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	c := dialRaw(t, b)
	// Version 99 with a body no version of ApiVersions can parse: the
	// broker must not decode it.
	if _, err := c.Write(rawFrame(18, 99, 42, []byte{0xde, 0xad})); err != nil {
		t.Fatalf("write: %v", err)
	}
	corr, body := readResponse(t, c)
	if corr != 42 {
		t.Fatalf("correlation ID %d, want 42", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0 // header v0, body v0
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode v0 body: %v", err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("error code %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
	}
	if len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != kmsg.ApiVersions.Int16() || resp.ApiKeys[0].MaxVersion != lookupKey(kmsg.ApiVersions.Int16()).max {
		t.Fatalf("api keys %+v, want only ApiVersions up to v%d", resp.ApiKeys, lookupKey(kmsg.ApiVersions.Int16()).max)
	}
	// The connection stays usable for the retry.
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	if _, err := c.Write(requestFrame(req, 43)); err != nil {
		t.Fatalf("write retry: %v", err)
	}
	if corr, _ := readResponse(t, c); corr != 43 {
		t.Fatalf("retry correlation ID %d, want 43", corr)
	}
}

func TestPipelinedResponsesKeepOrder(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	c := dialRaw(t, b)
	var frames []byte
	for corr := range int32(20) {
		var req kmsg.Request
		if corr%2 == 0 {
			r := kmsg.NewPtrMetadataRequest()
			r.Version = 9
			req = r
		} else {
			r := kmsg.NewPtrApiVersionsRequest()
			r.Version = 0
			req = r
		}
		frames = append(frames, requestFrame(req, corr)...)
	}
	if _, err := c.Write(frames); err != nil {
		t.Fatalf("write: %v", err)
	}
	for want := range int32(20) {
		if corr, _ := readResponse(t, c); corr != want {
			t.Fatalf("response %d has correlation ID %d", want, corr)
		}
	}
}

// TestHandlerPanicClosesOnlyItsConnection: a panicking handler closes its
// connection (answers already owed are not lost to other clients) and the
// broker keeps serving.
func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	t.Parallel()
	var panics atomic.Bool
	panics.Store(true)
	b := newBroker(t, func(c *Config) {
		c.Intercept = func(ctx context.Context, req kmsg.Request, serve ServeFunc) (kmsg.Response, error) {
			if panics.Load() && req.Key() == kmsg.Metadata.Int16() {
				var s []int
				_ = s[len(s)] // an index out of range: a real runtime panic, as a bad batch length once caused
			}
			return serve(ctx, req)
		}
	})
	c := dialRaw(t, b)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	if _, err := c.Write(requestFrame(req, 1)); err != nil {
		t.Fatalf("write: %v", err)
	}
	expectClosed(t, c)
	if n := b.handlerPanics.Load(); n != 1 {
		t.Fatalf("%d handler panics counted, want 1", n)
	}
	apiVersionsOK(t, b) // other connections, and the broker, are fine
	panics.Store(false)
	if resp := rawRequest(t, b, req).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 {
		t.Fatalf("metadata after the panic: %d brokers, want 1", len(resp.Brokers))
	}
}

// TestCloseIsBoundedWhenAHandlerHangs: a handler that ignores
// cancellation cannot hold shutdown past ShutdownTimeout.
func TestCloseIsBoundedWhenAHandlerHangs(t *testing.T) {
	t.Parallel()
	release, entered := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(release) })
	cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: testLogger(), ShutdownTimeout: 200 * time.Millisecond}
	cfg.Storage.SegmentBytes = 1 << 20
	cfg.Intercept = func(ctx context.Context, req kmsg.Request, serve ServeFunc) (kmsg.Response, error) {
		if req.Key() == kmsg.Metadata.Int16() {
			close(entered)
			<-release // deaf to the broker's context
		}
		return serve(ctx, req)
	}
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	c := dialRaw(t, b)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	if _, err := c.Write(requestFrame(req, 1)); err != nil {
		t.Fatalf("write: %v", err)
	}
	<-entered
	start := time.Now()
	err = b.Close()
	if took := time.Since(start); !errors.Is(err, ErrShutdownTimeout) || took > 5*time.Second {
		t.Fatalf("Close: %v after %v, want ErrShutdownTimeout after about 200ms", err, took)
	}
}
