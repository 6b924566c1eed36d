package runner

import (
	"context"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/refbroker"
)

func BenchmarkTmpHarnessOnly(b *testing.B) {
	broker, _ := refbroker.Start(context.Background(), refbroker.Config{DataDir: b.TempDir(), Listen: "127.0.0.1:0", Logger: quietLogger()})
	defer broker.Close()
	for b.Loop() {
		r := harnessRate(b, broker.Addr(), 1024, 1000, 5*time.Second)
		b.Logf("harness %.0f", r)
	}
}
func BenchmarkTmpRawOnly(b *testing.B) {
	broker, _ := refbroker.Start(context.Background(), refbroker.Config{DataDir: b.TempDir(), Listen: "127.0.0.1:0", Logger: quietLogger()})
	defer broker.Close()
	for b.Loop() {
		r := rawFranzRate(b, broker.Addr(), 1024, 1000, 5*time.Second)
		b.Logf("raw %.0f", r)
	}
}
