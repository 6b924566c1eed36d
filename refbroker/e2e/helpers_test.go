package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/refbroker"
)

// testLogger returns a logger that is quiet unless REFBROKER_TEST_LOG is
// set, so a failing run can be debugged without flooding normal ones.
func testLogger() *slog.Logger {
	if os.Getenv("REFBROKER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// refbrokerConfig is the embedded-broker config the tests start from: an
// ephemeral port, a fresh temp dir and small preallocated segments.
func refbrokerConfig(t testing.TB) refbroker.Config {
	t.Helper()
	cfg := refbroker.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: testLogger()}
	cfg.Storage.SegmentBytes = 4 << 20
	return cfg
}

// newRefbroker starts an embedded refbroker with cfg and closes it at
// cleanup (a test may close it earlier: Close is idempotent).
func newRefbroker(t testing.TB, cfg refbroker.Config) *refbroker.Broker {
	t.Helper()
	b, err := refbroker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("refbroker.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("refbroker Close: %v", err)
		}
	})
	return b
}

// newKfake starts a one-broker kfake cluster, closed at cleanup. One broker
// matches refbroker's topology, so partition leadership and coordinator
// lookups are comparable.
func newKfake(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake.NewCluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// newClient returns a kgo client seeded with addr, closed at cleanup.
// Closing it earlier is fine: kgo's Close is idempotent.
func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.MetadataMinAge(50 * time.Millisecond)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// newAdmin returns a kadm client for addr.
func newAdmin(t testing.TB, addr string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newClient(t, addr))
}

// testCtx returns a context that ends with the test or after d.
func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond every 10ms until it is true, failing the test with
// what if within passes first. The deadlines are generous because the test
// machine is shared and loaded; polling returns as soon as cond holds.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// createTopic creates topic with partitions partitions through kadm and
// fails the test on any error.
func createTopic(t testing.TB, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	resp, err := adm.CreateTopic(testCtx(t, 30*time.Second), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// errCode names the Kafka error inside err: "" for nil, the protocol name
// (UNKNOWN_TOPIC_OR_PARTITION) for a kerr error, and the Go type for other
// errors, whose text depends on the implementation and so is not compared.
func errCode(err error) string {
	if err == nil {
		return ""
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return fmt.Sprintf("non-kafka error %T", err)
}

// endOffsets returns the high watermark of every partition of topic.
func endOffsets(t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	listed, err := adm.ListEndOffsets(testCtx(t, 30*time.Second), topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	out := make(map[int32]int64)
	for p, lo := range listed[topic] {
		if lo.Err != nil {
			t.Fatalf("list end offset of %s-%d: %v", topic, p, lo.Err)
		}
		out[p] = lo.Offset
	}
	return out
}

// consumedRecord is what the tests keep of a consumed record.
type consumedRecord struct {
	Partition int32
	Offset    int64
	Value     string
	// ProducerID and ProducerEpoch identify the idempotent session that
	// wrote the record; the crash test uses them to tell a legitimate
	// re-send under a new producer ID from a broken deduplication.
	ProducerID    int64
	ProducerEpoch int16
}

// readAll consumes every partition of topic from the start up to the end
// offsets in want (as returned by endOffsets) and returns the records per
// partition in offset order. Any fetch error fails the test: kgo validates
// batch CRCs, so a corrupt batch served by the broker surfaces here.
func readAll(t testing.TB, addr, topic string, want map[int32]int64) map[int32][]consumedRecord {
	t.Helper()
	start := make(map[int32]kgo.Offset, len(want))
	for p := range want {
		start[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	ctx := testCtx(t, 60*time.Second)
	out := make(map[int32][]consumedRecord, len(want))
	done := func() bool {
		for p, hw := range want {
			recs := out[p]
			if hw > 0 && (len(recs) == 0 || recs[len(recs)-1].Offset < hw-1) {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: timed out with %d partitions read, want end offsets %v", topic, len(out), want)
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Fatalf("fetch %s-%d: %v", tp, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], consumedRecord{
				Partition: r.Partition, Offset: r.Offset, Value: string(r.Value),
				ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch,
			})
		})
	}
	return out
}

// checkContiguous fails the test unless the records of each partition have
// offsets from..from+n-1 with no gap or repeat.
func checkContiguous(t testing.TB, recs map[int32][]consumedRecord) {
	t.Helper()
	for p, rs := range recs {
		for i := 1; i < len(rs); i++ {
			if rs[i].Offset != rs[i-1].Offset+1 {
				t.Errorf("partition %d: offset %d follows %d", p, rs[i].Offset, rs[i-1].Offset)
			}
		}
	}
}
