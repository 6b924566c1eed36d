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
	"context"
	"fmt"
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

// Server is a running moto_server.
type Server struct {
	proc *chaos.Process
	// Endpoint is its base URL, such as "http://127.0.0.1:41234".
	Endpoint string
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
	return &Server{proc: proc, Endpoint: "http://" + addr}, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.proc.Close() }

// Config returns an adapter configuration for the server: region
// us-east-1, fixed dummy credentials (moto accepts any), queue prefix
// "bbt-", and a 1s long-polling wait so that consumers close quickly.
func (s *Server) Config(fifo bool) sqs.Config {
	c := sqs.Config{}.Default()
	c.Endpoint = s.Endpoint
	c.Region = Region
	c.Credentials = credentials.NewStaticCredentialsProvider("testing", "testing", "")
	c.QueuePrefix = "bbt-"
	c.FIFO = fifo
	c.WaitTime = time.Second
	return c
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
		if os.Getenv("CI") == "true" {
			t.Fatalf("SQS emulator required: %v", sharedErr)
		}
		t.Skipf("SQS emulator unavailable (%v); skipping (set CI=true to fail instead)", sharedErr)
	}
	return shared
}

// CloseShared stops the shared server if one was started.
func CloseShared() {
	if shared != nil {
		_ = shared.Close()
	}
}
