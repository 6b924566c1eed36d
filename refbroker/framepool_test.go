package refbroker

import (
	"bytes"
	"testing"
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
	buf, err := readBody(bytes.NewReader(body), nil, n, &pool)
	if err != nil || !bytes.Equal(buf, body) {
		t.Fatalf("read %d-byte body: %v, equal %v", n, err, bytes.Equal(buf, body))
	}
	if c := cap(buf); c&(c-1) != 0 || c < n || c >= 2*n {
		t.Fatalf("buffer capacity %d for %d bytes: want the power of two above", c, n)
	}
	pool.put(buf)
	first := &buf[:1][0]
	again, err := readBody(bytes.NewReader(body), nil, n, &pool)
	if err != nil || !bytes.Equal(again, body) {
		t.Fatalf("second read: %v", err)
	}
	// sync.Pool may drop items (a collection in between), so reuse is
	// likely, not certain; what must hold is correctness, and that a
	// reused buffer is the one put back.
	if &again[:1][0] != first {
		t.Logf("pooled buffer not reused (the pool was emptied by a GC)")
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
	}
	for _, tt := range tests {
		tt.pool.put(tt.put)
		if got := tt.pool.get(tt.get); got != nil {
			t.Errorf("%s: get(%d) returned a %d-byte buffer", tt.name, tt.get, cap(got))
		}
	}
}
