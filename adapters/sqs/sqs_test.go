package sqs_test

import (
	"os"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/adapters/sqs"
	"github.com/brokerbench/brokerbench/adapters/sqs/sqstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	sqstest.CloseShared()
	os.Exit(code)
}

// newSQS connects an adapter to the shared emulator and closes it when t
// ends.
func newSQS(t testing.TB, fifo bool) *sqs.SQS {
	t.Helper()
	srv := sqstest.Shared(t)
	s, err := sqs.New(t.Context(), srv.Config(fifo))
	if err != nil {
		t.Fatalf("sqs.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	adaptertest.Run(t, func(t *testing.T) adapters.System { return newSQS(t, false) })
}

func TestConformanceFIFO(t *testing.T) {
	t.Parallel()
	adaptertest.Run(t, func(t *testing.T) adapters.System { return newSQS(t, true) })
}
