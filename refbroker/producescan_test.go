package refbroker

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// produceRequest builds a Produce request of the given version with one
// partition per entry of parts (partition i carries parts[i]; nil is a
// null records field) in topic tp, and a second topic with one batch
// when two is set, so that the walk crosses a topic boundary.
func produceRequest(version int16, tp *topic, parts [][]byte, two bool) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = version, -1, 5000
	txn := "not-transactional" // skipped by the walk; the broker does not check it
	req.TransactionID = &txn
	topics := []struct {
		name  string
		id    [16]byte
		parts [][]byte
	}{{tp.name, tp.id, parts}}
	if two {
		topics = append(topics, struct {
			name  string
			id    [16]byte
			parts [][]byte
		}{"other", [16]byte{1}, [][]byte{testBatch("o", -1, -1)}})
	}
	for _, t := range topics {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = t.name, t.id
		for i, records := range t.parts {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = int32(i), records
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// decodeFrame decodes a request frame body (no size prefix) as
// handleFrame and dispatch do, so its records alias the frame.
func decodeFrame(t *testing.T, frame []byte, version int16) *kmsg.ProduceRequest {
	t.Helper()
	r := kbin.Reader{Src: frame}
	r.Int16()
	r.Int16()
	r.Int32()
	r.NullableString()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if err := req.ReadFrom(r.Src); err != nil {
		t.Fatalf("decode v%d: %v", version, err)
	}
	return req
}

// TestProduceScanSumsEveryBatch: at every Produce version with batches
// (v3-13), however the frame is cut into reads, the arrival scan checks
// every batch of every partition of every topic and finds it valid. A partition
// whose batch length is wrong gets no sum, and neither does the rest of
// its records, but the partitions after it do.
func TestProduceScanSumsEveryBatch(t *testing.T) {
	t.Parallel()
	tp := &topic{name: "scan", id: [16]byte{9}}
	badLength := testBatch("bad", -1, -1)
	badLength[11] += 7 // batchLength past the records
	parts := [][]byte{
		testBatch("a", -1, -1),
		slices.Concat(testBatch("b1", 7, 0), testBatch("b2", 7, 1), testBatch("b3", 7, 2)),
		nil, // null records
		testBatch(strings.Repeat("c", 70_000), -1, -1),
		slices.Concat(badLength, testBatch("after", -1, -1)),
		testBatch("last", -1, -1),
	}
	for _, version := range []int16{3, 8, 9, 12, 13} {
		frame := requestFrame(produceRequest(version, tp, parts, true), 1)[4:]
		for _, chunk := range []int{1, 5, 64, 4096, len(frame)} {
			t.Run(fmt.Sprintf("v%d/chunks=%d", version, chunk), func(t *testing.T) {
				var scan produceScan
				scan.reset()
				buf := make([]byte, 0, len(frame))
				for len(buf) < len(frame) {
					buf = append(buf, frame[len(buf):min(len(frame), len(buf)+chunk)]...)
					scan.feed(buf)
				}
				req := decodeFrame(t, buf, version)
				for ti, rt := range req.Topics {
					for _, rp := range rt.Partitions {
						if rp.Records == nil {
							continue
						}
						wantSummed := !(ti == 0 && rp.Partition == 4) // the bad length
						batches, err := storage.SplitBatches(rp.Records)
						if err != nil { // the bad length: checked as one run
							batches = [][]byte{rp.Records}
						}
						for i, b := range batches {
							sum := scan.check(b)
							if sum.Known() != wantSummed {
								t.Fatalf("topic %d partition %d batch %d: summed %v, want %v", ti, rp.Partition, i, sum.Known(), wantSummed)
							}
							if sum.Known() {
								if !sum.Valid() {
									t.Fatalf("topic %d partition %d batch %d: a valid batch found invalid", ti, rp.Partition, i)
								}
								if err := storage.ValidateBatch(b, sum); err != nil {
									t.Fatalf("topic %d partition %d batch %d: %v", ti, rp.Partition, i, err)
								}
							}
						}
					}
				}
			})
		}
	}
}

// TestProduceScanIgnoresOtherKeys: a frame of another key, or a
// truncated Produce header, leaves no sums and does not panic.
func TestProduceScanIgnoresOtherKeys(t *testing.T) {
	t.Parallel()
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 12
	produce := requestFrame(produceRequest(9, &topic{name: "x"}, [][]byte{testBatch("a", -1, -1)}, false), 1)[4:]
	for name, frame := range map[string][]byte{
		"fetch":                     requestFrame(fetch, 1)[4:],
		"produce cut in its header": produce[:9],
		"produce with huge counts":  slices.Concat(produce[:14], []byte{0xff, 0xff, 0xff, 0x0f}),
	} {
		var scan produceScan
		scan.reset()
		scan.feed(frame)
		if scan.check(frame).Known() {
			t.Errorf("%s: a sum for the whole frame", name)
		}
	}
}

// TestProduceCorruptAtArrival: batches large enough that the request is
// read in several chunks, each batch straddling reads, are checked with
// the CRCs summed as they arrived: every kind of damage is still
// CORRUPT_MESSAGE, only for the damaged partition, and stores nothing
// there; the good partitions of the same request are stored. Rows run in
// order and at the flexible and non-flexible versions and by topic ID.
func TestProduceCorruptAtArrival(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	const nparts = 4
	tp, err := b.topics.create("arrive", nparts, nil, false)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	big := strings.Repeat("v", 300_000) // > readChunk: batches span reads
	good := func() []byte { return testBatch(big, -1, -1) }
	flip := func(at func(n int) int) []byte {
		bt := good()
		bt[at(len(bt))] ^= 0x20
		return bt
	}
	flippedRecord := func() []byte { return flip(func(n int) int { return n - 1000 }) }
	flippedHeader := func() []byte { return flip(func(int) int { return 30 }) } // base timestamp
	flippedCRC := func() []byte { return flip(func(int) int { return 17 }) }
	truncated := func() []byte { bt := good(); return bt[:len(bt)-5000] }
	tests := []struct {
		name  string
		parts [nparts][]byte
		want  [nparts]int16
	}{
		{"all good", [nparts][]byte{good(), good(), good(), good()}, [nparts]int16{}},
		{"flipped record byte", [nparts][]byte{flippedRecord(), good(), good(), good()}, [nparts]int16{kerr.CorruptMessage.Code}},
		{"flipped header byte", [nparts][]byte{good(), flippedHeader(), good(), good()}, [nparts]int16{1: kerr.CorruptMessage.Code}},
		{"flipped CRC", [nparts][]byte{good(), good(), flippedCRC(), good()}, [nparts]int16{2: kerr.CorruptMessage.Code}},
		{"truncated batch", [nparts][]byte{good(), good(), good(), truncated()}, [nparts]int16{3: kerr.CorruptMessage.Code}},
		{"second batch bad: partition stores nothing", [nparts][]byte{slices.Concat(good(), flippedRecord()), good(), good(), good()}, [nparts]int16{kerr.CorruptMessage.Code}},
		{"every partition bad", [nparts][]byte{flippedRecord(), flippedHeader(), flippedCRC(), truncated()},
			[nparts]int16{kerr.CorruptMessage.Code, kerr.CorruptMessage.Code, kerr.CorruptMessage.Code, kerr.CorruptMessage.Code}},
	}
	for _, version := range []int16{8, 9, 13} {
		for _, tt := range tests {
			var before [nparts]int64
			for p := range nparts {
				before[p] = tp.parts[p].HighWatermark()
			}
			req := produceRequest(version, tp, tt.parts[:], false)
			resp := rawRequest(t, b, req).(*kmsg.ProduceResponse)
			for p, got := range resp.Topics[0].Partitions {
				if got.ErrorCode != tt.want[p] {
					t.Errorf("v%d %s: partition %d: %v, want %v", version, tt.name, p, kerr.ErrorForCode(got.ErrorCode), kerr.ErrorForCode(tt.want[p]))
				}
				stored := tp.parts[p].HighWatermark() - before[p]
				if wantStored := int64(strings.Count(string(tt.parts[p]), big)); tt.want[p] != 0 && stored != 0 || tt.want[p] == 0 && stored != wantStored {
					t.Errorf("v%d %s: partition %d stored %d records", version, tt.name, p, stored)
				}
			}
		}
	}
}

// FuzzProduceScan: whatever the frame and however it is cut into reads,
// the arrival scan does not panic (it runs on the reader goroutine, where
// no handler's recover covers it), sees only the bytes that have arrived
// (each feed gets a slice capped at them), and never changes a batch's
// verdict: for every batch of the request as kmsg decodes it,
// ValidateBatch with the scan's sum agrees with ValidateBatch summing the
// batch itself.
func FuzzProduceScan(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint16(7))
	}
	tp := &topic{name: "fuzz", id: [16]byte{3}}
	two := slices.Concat(testBatch("x", -1, -1), testBatch("y", 5, 0))
	for _, v := range []int16{3, 8, 9, 13} {
		f.Add(requestFrame(produceRequest(v, tp, [][]byte{two, nil, testBatch("z", -1, -1)}, true), 1)[4:], uint16(50))
	}
	f.Fuzz(func(t *testing.T, frame []byte, chunk uint16) {
		step := int(chunk)%max(len(frame), 1) + 1
		var scan produceScan
		scan.reset()
		for n := min(step, len(frame)); ; n = min(n+step, len(frame)) {
			scan.feed(frame[:n:n])
			if n == len(frame) {
				break
			}
		}
		r := kbin.Reader{Src: frame}
		key, version := r.Int16(), r.Int16()
		r.Int32()
		r.NullableString()
		if !r.Ok() || key != int16(kmsg.Produce) || version < 0 || version > 13 {
			return
		}
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(version)
		if req.IsFlexible() {
			kmsg.SkipTags(&r)
		}
		if req.ReadFrom(r.Src) != nil {
			return
		}
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				batches, err := storage.SplitBatches(rp.Records)
				if err != nil {
					continue
				}
				for _, b := range batches {
					withSum := storage.ValidateBatch(b, scan.check(b))
					summedHere := storage.ValidateBatch(b, storage.BatchCheck{})
					if (withSum == nil) != (summedHere == nil) {
						t.Fatalf("verdict changed by the scan's sum: %v with it, %v without", withSum, summedHere)
					}
				}
			}
		}
	})
}
