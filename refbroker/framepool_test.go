package refbroker

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// TestFramePoolReusesBigRequestBuffers: a request above maxKeptBuffer is
// read into a power-of-two buffer that, once put back, serves the next
// request of its size class without a new allocation; small buffers and
// a nil pool keep nothing.
func TestFramePoolReusesBigRequestBuffers(t *testing.T) {
	t.Parallel()
	var pool framePool
	n := maxKeptBuffer + 12345
	body := bytes.Repeat([]byte{9}, n)
	buf, err := readBody(bytes.NewReader(body), nil, n, &pool, nil)
	if err != nil || !bytes.Equal(buf, body) {
		t.Fatalf("read %d-byte body: %v, equal %v", n, err, bytes.Equal(buf, body))
	}
	if c := cap(buf); c&(c-1) != 0 || c < n || c >= 2*n {
		t.Fatalf("buffer capacity %d for %d bytes: want the power of two above", c, n)
	}
	pool.put(buf)
	first := &buf[:1][0]
	again, err := readBody(bytes.NewReader(body), nil, n, &pool, nil)
	if err != nil || !bytes.Equal(again, body) {
		t.Fatalf("second read: %v", err)
	}
	if &again[:1][0] != first {
		t.Errorf("the pooled buffer was not reused")
	}
	tests := []struct {
		name string
		pool *framePool
		put  []byte
		get  int
	}{
		{"small buffer not kept", &framePool{}, make([]byte, maxKeptBuffer), maxKeptBuffer},
		{"nil pool", nil, make([]byte, 2*maxKeptBuffer), maxKeptBuffer + 1},
		{"smaller class does not serve a bigger request", &framePool{}, make([]byte, 2*maxKeptBuffer), 4*maxKeptBuffer + 1},
		{"not 16x bigger than the request", &framePool{}, make([]byte, 16*(1<<20)), 1<<20 - 1},
	}
	for _, tt := range tests {
		tt.pool.put(tt.put)
		if got := tt.pool.get(tt.get); got != nil {
			t.Errorf("%s: get(%d) returned a %d-byte buffer", tt.name, tt.get, cap(got))
		}
	}
	// A request below maxKeptBuffer, read by a slot that gave its big
	// buffer to the pool, takes that buffer rather than regrowing.
	pool.put(again)
	small := maxKeptBuffer / 4
	got, err := readBody(bytes.NewReader(body[:small]), nil, small, &pool, nil)
	if err != nil || len(got) != small {
		t.Fatalf("read %d-byte body: %v", small, err)
	}
	if &got[:1][0] != first {
		t.Errorf("a %d-byte request did not take the pooled %d-byte buffer", small, cap(again))
	}
}

// TestFramePoolIsBounded: the pool holds at most maxPooledBytes, and a
// sweep drops buffers unused for poolIdle.
func TestFramePoolIsBounded(t *testing.T) {
	t.Parallel()
	var pool framePool
	size := 2 * maxKeptBuffer
	for range maxPooledBytes/size + 3 {
		pool.put(make([]byte, 0, size))
	}
	if pool.bytes != maxPooledBytes {
		t.Fatalf("pool holds %d bytes, want the %d bound", pool.bytes, maxPooledBytes)
	}
	pool.sweep(time.Now())
	if pool.bytes != maxPooledBytes {
		t.Fatalf("a sweep dropped fresh buffers: %d bytes left", pool.bytes)
	}
	pool.sweep(time.Now().Add(poolIdle))
	if pool.bytes != 0 || pool.get(size) != nil {
		t.Fatalf("after %v idle the pool still holds %d bytes", poolIdle, pool.bytes)
	}
	pool.put(make([]byte, 0, size))
	pool.drop()
	if pool.bytes != 0 {
		t.Fatalf("drop left %d bytes", pool.bytes)
	}
}

// TestBigProduceRequestsReuseTheirBuffer: produce requests above the
// 8 MiB a connection keeps (9 partitions of 1 MB here; kgo sends 16 MB at
// 16 partitions) reuse one buffer instead of regrowing it from 64 KiB for
// every request, which cost about twice the request's bytes in
// allocations each time. Not parallel: it counts the process's
// allocations.
func TestBigProduceRequestsReuseTheirBuffer(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.Storage.SegmentBytes = storage.DefaultSegmentBytes })
	const parts = 9
	if _, err := b.topics.create("bench", parts, nil, false); err != nil {
		t.Fatal(err)
	}
	frame := benchProduceFrame(parts, benchRecordBatch(1000, 1024))
	if len(frame) <= maxKeptBuffer {
		t.Fatalf("request of %d bytes is not above maxKeptBuffer", len(frame))
	}
	c := dialRaw(t, b)
	send := func() {
		t.Helper()
		if _, err := c.Write(frame); err != nil {
			t.Fatalf("write: %v", err)
		}
		if _, body := readResponse(t, c); len(body) == 0 {
			t.Fatal("empty produce response")
		}
	}
	send() // grows the first buffer
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const more = 4
	for range more {
		send()
	}
	runtime.ReadMemStats(&after)
	// Decoding, responses and the test's reads allocate a little; a
	// regrowth per request would be about 2x the request each.
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(len(frame)/2); got > limit {
		t.Fatalf("%d requests of %d bytes allocated %d bytes, want at most %d: big request buffers are not reused",
			more, len(frame), got, limit)
	}
	for _, l := range b.topics.lookup("bench").parts {
		if hw := l.HighWatermark(); hw != (1+more)*1000 {
			t.Fatalf("high watermark %d, want %d", hw, (1+more)*1000)
		}
	}
}

// TestFrameSlotKeepsItsBuffer: a frame slot that reads a request into a
// pooled buffer above maxKeptBuffer gets its own buffer back when the
// request is released, and the pooled one goes back to the pool, so that
// neither the slot's next small request nor the next big one allocates.
// A key that keeps its frame (JoinGroup) gives up only the request's
// buffer.
func TestFrameSlotKeepsItsBuffer(t *testing.T) {
	t.Parallel()
	produce, keeper := &apiKey{frame: releasesFrame}, &apiKey{}
	small, big := 100<<10, maxKeptBuffer+1000
	body := bytes.Repeat([]byte{7}, big)
	tests := []struct {
		name       string
		api        *apiKey
		wantOwn    bool // the slot has its own buffer back
		wantInPool bool // the big buffer is back in the pool
	}{
		{"released frame", produce, true, true},
		{"kept frame", keeper, true, false},
		{"unknown key", nil, true, false},
	}
	for _, tt := range tests {
		var pool framePool
		pool.put(make([]byte, 0, 2*maxKeptBuffer))
		f := &frame{}
		if err := f.fill(bytes.NewReader(body[:small]), small, &pool); err != nil {
			t.Fatalf("%s: fill small: %v", tt.name, err)
		}
		own := &f.buf[:1][0]
		f.api = produce // the slot keeps this buffer as its own
		f.release(&pool)
		if err := f.fill(bytes.NewReader(body), big, &pool); err != nil {
			t.Fatalf("%s: fill big: %v", tt.name, err)
		}
		if cap(f.buf) != 2*maxKeptBuffer || pool.bytes != 0 {
			t.Fatalf("%s: big request read into a %d-byte buffer, pool holds %d: want the pooled one", tt.name, cap(f.buf), pool.bytes)
		}
		f.api = tt.api
		f.release(&pool)
		if got := cap(f.buf) > 0 && &f.buf[:1][0] == own; got != tt.wantOwn {
			t.Errorf("%s: slot has its own buffer back: %v, want %v", tt.name, got, tt.wantOwn)
		}
		if got := pool.bytes == 2*maxKeptBuffer; got != tt.wantInPool {
			t.Errorf("%s: big buffer back in the pool: %v, want %v", tt.name, got, tt.wantInPool)
		}
	}
}
