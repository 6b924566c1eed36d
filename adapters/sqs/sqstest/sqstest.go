// Package sqstest starts a local SQS-compatible server for tests: moto's
// moto_server (the Python "moto" package, version 5, installed on
// brokerbench's development and CI machines), on a free loopback port.
//
// moto, not goaws, because goaws v0.4.5 speaks only the SQS query (XML)
// protocol while the AWS SDK for Go v2 has spoken the JSON protocol since
// late 2023 (service/sqs v1.28.4 does, v1.26.0 did not), and because goaws
// always reports ApproximateReceiveCount 1, dead-letters after
// maxReceiveCount+1 receives and loses FIFO group locks (see
// docs/adapters/sqs.md).
package sqstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/brokerbench/brokerbench/adapters/sqs"
	"github.com/brokerbench/brokerbench/chaos"
)

// Binary is the server executable looked up on $PATH.
const Binary = "moto_server"

// Region is the region the test configurations use.
const Region = "us-east-1"

// Server is a running moto_server behind a gate that makes its
// ReceiveMessage atomic per queue (see receiveGate).
type Server struct {
	proc  *chaos.Process
	proxy *http.Server
	// Endpoint is the gate's base URL, such as "http://127.0.0.1:41234".
	Endpoint string
	// Direct is moto_server's own URL, without the proxy.
	Direct string
}

// receiveGate stands between the tests and moto. moto's ReceiveMessage
// does not lock the queue: two concurrent receives can both find a message
// visible and both return it (each raising its receive count), a duplicate
// SQS never produces for a message within its visibility timeout. Worse,
// its long poll decides once, at the start, which FIFO groups are busy. So
// the gate runs each ReceiveMessage as short polls (WaitTimeSeconds 0), one
// at a time per queue, and waits between them itself, until messages come
// or the requested wait is over; any other request on the queue (a send, a
// delete, a visibility change) wakes the waiting receives at once, and
// they poll every pollInterval anyway for visibility timeouts running out.
// Other requests pass through unchanged.
type receiveGate struct {
	target string // moto's base URL
	mu     sync.Mutex
	queues map[string]*gatedQueue
}

// pollInterval is how often a waiting receive polls without being woken.
const pollInterval = 250 * time.Millisecond

type gatedQueue struct {
	recv   sync.Mutex // one short poll at a time
	wakeMu sync.Mutex
	wake   chan struct{} // closed and replaced when the queue changes
}

func (g *receiveGate) queue(url string) *gatedQueue {
	g.mu.Lock()
	defer g.mu.Unlock()
	q, ok := g.queues[url]
	if !ok {
		q = &gatedQueue{wake: make(chan struct{})}
		g.queues[url] = q
	}
	return q
}

func (q *gatedQueue) waiter() <-chan struct{} {
	q.wakeMu.Lock()
	defer q.wakeMu.Unlock()
	return q.wake
}

func (q *gatedQueue) changed() {
	q.wakeMu.Lock()
	defer q.wakeMu.Unlock()
	close(q.wake)
	q.wake = make(chan struct{})
}

func (g *receiveGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var in map[string]any
	_ = json.Unmarshal(body, &in) // a malformed request goes through for moto to refuse
	queueURL, _ := in["QueueUrl"].(string)
	if r.Header.Get("X-Amz-Target") != "AmazonSQS.ReceiveMessage" || queueURL == "" {
		g.forward(w, r, body)
		if queueURL != "" {
			g.queue(queueURL).changed()
		}
		return
	}
	wait, _ := in["WaitTimeSeconds"].(float64)
	deadline := time.Now().Add(time.Duration(wait * float64(time.Second)))
	in["WaitTimeSeconds"] = 0
	short, _ := json.Marshal(in)
	q := g.queue(queueURL)
	for {
		wake := q.waiter()
		q.recv.Lock()
		resp, data, err := g.do(r, short)
		q.recv.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if resp.StatusCode != http.StatusOK || hasMessages(data) || !time.Now().Before(deadline) {
			writeResponse(w, resp, data)
			return
		}
		t := time.NewTimer(min(pollInterval, time.Until(deadline)))
		select {
		case <-wake:
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
		t.Stop()
	}
}

// forward sends the request to moto unchanged and copies the answer back.
func (g *receiveGate) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	resp, data, err := g.do(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	writeResponse(w, resp, data)
}

// do sends r's method, path and headers with body to moto and reads the
// whole answer.
func (g *receiveGate) do(r *http.Request, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, g.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Content-Length")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

func writeResponse(w http.ResponseWriter, resp *http.Response, data []byte) {
	for k, vs := range resp.Header {
		if k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(data)
}

func hasMessages(data []byte) bool {
	var out struct{ Messages []json.RawMessage }
	return json.Unmarshal(data, &out) == nil && len(out.Messages) > 0
}

// Start runs moto_server on a free loopback port and waits until it
// accepts connections. Stop it with Close.
func Start(ctx context.Context) (*Server, error) {
	bin, err := exec.LookPath(Binary)
	if err != nil {
		return nil, fmt.Errorf("%s not on $PATH (install the Python package moto[server]): %w", Binary, err)
	}
	port, err := chaos.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	proc, err := chaos.NewProcess(chaos.ProcessConfig{
		Name:         Binary,
		Path:         bin,
		Args:         []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)},
		Addr:         addr,
		ReadyTimeout: 60 * time.Second, // Python imports are slow on a loaded machine
		StopTimeout:  5 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	if err := proc.Start(ctx); err != nil {
		return nil, fmt.Errorf("start %s: %w; output: %s", Binary, err, proc.Output())
	}
	direct := "http://" + addr
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = proc.Close()
		return nil, fmt.Errorf("listen for the %s gate: %w", Binary, err)
	}
	gate := &receiveGate{target: direct, queues: make(map[string]*gatedQueue)}
	srv := &http.Server{Handler: gate, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &Server{proc: proc, proxy: srv, Endpoint: "http://" + ln.Addr().String(), Direct: direct}, nil
}

// Close stops the proxy and the server.
func (s *Server) Close() error {
	_ = s.proxy.Close()
	return s.proc.Close()
}

// The settings of the test configurations: moto accepts any credentials,
// the prefix keeps test queues apart, and a 1s long-polling wait lets
// consumers close quickly.
const (
	dummyKey    = "testing"
	queuePrefix = "bbt-"
	waitTime    = time.Second
)

// Config returns an adapter configuration for the server: region
// us-east-1, fixed dummy credentials, queue prefix "bbt-", and a 1s
// long-polling wait.
func (s *Server) Config(fifo bool) sqs.Config {
	c := sqs.Config{}.Default()
	c.Endpoint = s.Endpoint
	c.Region = Region
	c.Credentials = credentials.NewStaticCredentialsProvider(dummyKey, dummyKey, "")
	c.QueuePrefix = queuePrefix
	c.FIFO = fifo
	c.WaitTime = waitTime
	return c
}

// Env is Config(false) as environment variables, for the brokerbench
// command (sqs.ConfigFromEnv and the AWS credential chain): set each with
// t.Setenv.
func (s *Server) Env() map[string]string {
	return map[string]string{
		sqs.EnvPrefix + "ENDPOINT":     s.Endpoint,
		sqs.EnvPrefix + "REGION":       Region,
		sqs.EnvPrefix + "QUEUE_PREFIX": queuePrefix,
		sqs.EnvPrefix + "WAIT_TIME":    waitTime.String(),
		"AWS_ACCESS_KEY_ID":            dummyKey,
		"AWS_SECRET_ACCESS_KEY":        dummyKey,
	}
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
)

// Shared returns one server per test binary, started on first use; stop it
// from TestMain with CloseShared. Without moto_server the test is skipped
// with a message naming it, or fails with CI=true, where every service
// must be there.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		shared, sharedErr = Start(ctx)
	})
	if sharedErr != nil {
		unavailable(t, sharedErr)
	}
	return shared
}

// Private starts a server for t alone, stopped when t ends, with the same
// skip-or-fail policy as [Shared].
func Private(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	s, err := Start(ctx)
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// unavailable skips t with a message naming moto_server, or fails it with
// CI=true, where every service must be there.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("SQS emulator required: %v", err)
	}
	t.Skipf("SQS emulator unavailable (%v); skipping (set CI=true to fail instead)", err)
}

// CloseShared stops the shared server if one was started.
func CloseShared() {
	if shared != nil {
		_ = shared.Close()
	}
}
