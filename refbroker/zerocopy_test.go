package refbroker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/internal/sectest"
	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// assemble rebuilds what flush sends: out with the ranges spliced in.
func assemble(out []byte, ranges []outRange) []byte {
	var b []byte
	prev := 0
	for _, r := range ranges {
		b = append(b, out[prev:r.at]...)
		b = append(b, r.data...)
		prev = r.at
	}
	return append(b, out[prev:]...)
}

// randomFetchResponse builds a response of version v with every field the
// encoder writes set at random; records are nil, empty, random bytes or
// held (a storage read). tagged sets a tagged field refbroker never sets.
func randomFetchResponse(rng *rand.Rand, v int16, held []byte, tagged bool) *kmsg.FetchResponse {
	r := kmsg.NewPtrFetchResponse()
	r.Version, r.ThrottleMillis, r.ErrorCode, r.SessionID = v, rng.Int32(), int16(rng.IntN(100)), rng.Int32()
	for ti := range 1 + rng.IntN(3) {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = fmt.Sprintf("topic-%d", ti)
		for i := range t.TopicID {
			t.TopicID[i] = byte(rng.IntN(256))
		}
		for pi := range 1 + rng.IntN(4) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition, p.ErrorCode = int32(pi), int16(rng.IntN(100))
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = rng.Int64(), rng.Int64(), rng.Int64()
			p.PreferredReadReplica = rng.Int32()
			if rng.IntN(2) == 0 {
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				for range rng.IntN(3) {
					a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					a.ProducerID, a.FirstOffset = rng.Int64(), rng.Int64()
					p.AbortedTransactions = append(p.AbortedTransactions, a)
				}
			}
			switch rng.IntN(4) {
			case 0: // nil: encoded null
			case 1:
				p.RecordBatches = []byte{}
			case 2:
				p.RecordBatches = make([]byte, rng.IntN(300))
				for i := range p.RecordBatches {
					p.RecordBatches[i] = byte(rng.IntN(256))
				}
			default:
				p.RecordBatches = held
			}
			t.Partitions = append(t.Partitions, p)
		}
		r.Topics = append(r.Topics, t)
	}
	// At least one partition sends the held read.
	r.Topics[0].Partitions[0].RecordBatches = held
	if tagged {
		r.Topics[0].Partitions[0].DivergingEpoch.Epoch = 7
	}
	return r
}

// TestFetchEncoderMatchesKmsg: for every served version, the zero-copy
// encoder's bytes, with the spliced record ranges put back, are exactly
// kmsg's encoding of the same response; held reads are spliced, not
// copied, unless a tagged field makes kmsg encode the response.
func TestFetchEncoderMatchesKmsg(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b, kgo.DefaultProduceTopic("enc"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("value")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	l := b.topics.partition("enc", 0)
	rng := rand.New(rand.NewPCG(10, 6))
	api := lookupKey(kmsg.Fetch.Int16())
	for v := api.min; v <= api.max; v++ {
		for _, tagged := range []bool{false, true} {
			t.Run(fmt.Sprintf("v%d/tagged=%v", v, tagged), func(t *testing.T) {
				for range 20 {
					view, err := l.Read(0, 1<<20)
					if err != nil {
						t.Fatalf("Read: %v", err)
					}
					resp := randomFetchResponse(rng, v, view.Data, tagged)
					cc := newConn(b, nil)
					cc.pending.hold([]*storage.ReadResult{view})
					out := appendFetchResponse(cc, nil, resp)
					got, want := assemble(out, cc.pending.ranges), resp.AppendTo(nil)
					spliced := len(cc.pending.ranges)
					cc.discardOutput()
					if !bytes.Equal(got, want) {
						t.Fatalf("encoding differs from kmsg:\n got %x\nwant %x", got, want)
					}
					if copying := tagged && v >= 12; copying != (spliced == 0) {
						t.Fatalf("%d ranges spliced; want none exactly when kmsg encodes (tagged flexible)", spliced)
					}
				}
			})
		}
	}
}

// produceRandom produces n records with random keys, values (up to 3 KiB)
// and headers round-robin over the partitions of topic, in synchronous
// rounds of 50 so that batches are small and segments roll often, and
// returns them as acknowledged (partition and offset set).
func produceRandom(t *testing.T, cl *kgo.Client, topic string, partitions int32, n int) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	rng := rand.New(rand.NewPCG(uint64(n), 3))
	var acked []*kgo.Record
	for i := 0; i < n; {
		var round []*kgo.Record
		for ; i < n && len(round) < 50; i++ {
			val := make([]byte, rng.IntN(3<<10))
			for j := range val {
				val[j] = byte(rng.IntN(256))
			}
			round = append(round, &kgo.Record{
				Topic: topic, Partition: int32(i) % partitions, Key: fmt.Appendf(nil, "k%d", i), Value: val,
				Headers: []kgo.RecordHeader{{Key: "i", Value: fmt.Appendf(nil, "%d", i)}},
			})
		}
		rs, err := cl.ProduceSync(ctx, round...).First()
		if err != nil {
			t.Fatalf("produce: %v (%v)", err, rs)
		}
		acked = append(acked, round...)
	}
	return acked
}

// TestZeroCopyFetchServesStoredBytes: record bytes written from the
// segments' mappings (writev on plaintext, tls.Conn's encryption on TLS)
// reach a franz-go consumer intact, every produced record, and a Fetch's
// record bytes are exactly what storage holds at that offset, through
// segments that rolled every few batches.
func TestZeroCopyFetchServesStoredBytes(t *testing.T) {
	t.Parallel()
	pki := sectest.WritePKI(t, "alice")
	tests := []struct {
		name string
		tls  bool
	}{
		{"plaintext", false},
		{"TLS", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBroker(t, func(c *Config) {
				c.Storage.SegmentBytes = 64 << 10
				if tt.tls {
					c.Security = Security{Protocol: ProtocolSSL, TLSCertFile: pki.ServerCert, TLSKeyFile: pki.ServerKey}
				}
			})
			var opts []kgo.Opt
			if tt.tls {
				opts = append(opts, kgo.DialTLSConfig(pki.ClientTLS(t, false)))
			}
			ctx := testCtx(t, 60*time.Second)
			const parts, n = 3, 900
			prod := newClient(t, b, append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
			if _, err := kadm.NewClient(prod).CreateTopic(ctx, parts, 1, nil, "zc"); err != nil {
				t.Fatalf("create: %v", err)
			}
			acked := produceRandom(t, prod, "zc", parts, n)

			cons := newClient(t, b, append(opts, kgo.ConsumeTopics("zc"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
			want := make(map[[2]int64]*kgo.Record, n)
			for _, r := range acked {
				want[[2]int64{int64(r.Partition), r.Offset}] = r
			}
			for got := 0; got < n; {
				fs := cons.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatalf("consume after %d records: %v", got, err)
				}
				for _, r := range fs.Records() {
					w := want[[2]int64{int64(r.Partition), r.Offset}]
					if w == nil || !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) ||
						len(r.Headers) != 1 || !bytes.Equal(r.Headers[0].Value, w.Headers[0].Value) {
						t.Fatalf("record at %d/%d differs from the one produced there", r.Partition, r.Offset)
					}
					got++
				}
			}

			// Raw fetches, one partition at a time, against storage.
			for p := range int32(parts) {
				l := b.topics.partition("zc", p)
				for off := int64(0); off < l.HighWatermark(); {
					req := kmsg.NewPtrFetchRequest()
					req.MaxBytes, req.SessionEpoch = 100<<10, -1
					rt := kmsg.NewFetchRequestTopic()
					rt.Topic, rt.TopicID = "zc", b.topics.lookup("zc").id
					rp := kmsg.NewFetchRequestTopicPartition()
					rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 100<<10
					rt.Partitions = append(rt.Partitions, rp)
					req.Topics = append(req.Topics, rt)
					resp, err := req.RequestWith(ctx, prod)
					if err != nil {
						t.Fatalf("fetch %d at %d: %v", p, off, err)
					}
					got := resp.Topics[0].Partitions[0].RecordBatches
					view, err := l.Read(off, 100<<10)
					if err != nil {
						t.Fatalf("storage read %d at %d: %v", p, off, err)
					}
					same := bytes.Equal(got, view.Data)
					view.Release()
					if !same || len(got) == 0 {
						t.Fatalf("partition %d offset %d: fetched %d bytes differ from the %d stored", p, off, len(got), len(view.Data))
					}
					batches, err := storage.SplitBatches(got)
					if err != nil {
						t.Fatalf("split fetched batches: %v", err)
					}
					last := batches[len(batches)-1]
					off = int64(binary.BigEndian.Uint64(last)) + int64(binary.BigEndian.Uint32(last[23:])) + 1
				}
			}
		})
	}
}

// fetchAll builds a Fetch v12 for partitions [0, parts) of topic from
// offset 0, each up to partMax bytes, with a large total.
func fetchAll(topic string, parts int32, partMax int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxBytes, req.SessionEpoch = 12, 50<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for p := range parts {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = p, partMax
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// produceBulk writes about perPart bytes of 64 KiB records to each of
// the topic's partitions (created here), with a client closed on return.
func produceBulk(t *testing.T, b *Broker, topic string, parts int32, perPart int) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatalf("create: %v", err)
	}
	val := bytes.Repeat([]byte("z"), 64<<10)
	var rs []*kgo.Record
	for p := range parts {
		for range perPart / len(val) {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: val})
		}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// TestFetchOutputBufferStaysSmall: a 16-partition fetch of 16 MiB leaves
// the record bytes out of the connection's buffer, which holds only the
// fields around them and keeps its size from one request to the next
// (it used to be the size of the response, and was regrown for every
// response above the 8 MiB kept-buffer limit).
func TestFetchOutputBufferStaysSmall(t *testing.T) {
	t.Parallel()
	b := newBroker(t, func(c *Config) { c.Storage.SegmentBytes = 8 << 20 })
	const parts = 16
	produceBulk(t, b, "wide", parts, 1<<20)
	frame := requestFrame(fetchAll("wide", parts, 1<<20), 1)[4:]
	cc := newConn(b, nil)
	defer cc.discardOutput()
	var firstCap int
	for i := range 3 {
		if err := cc.handleFrame(testCtx(t, 10*time.Second), frame); err != nil {
			t.Fatalf("fetch: %v", err)
		}
		if cc.pending.bytes < parts<<20*9/10 {
			t.Fatalf("%d record bytes spliced, want about %d", cc.pending.bytes, parts<<20)
		}
		if size := int(binary.BigEndian.Uint32(cc.out)); size != len(cc.out)-4+cc.pending.bytes {
			t.Fatalf("size prefix %d, want %d", size, len(cc.out)-4+cc.pending.bytes)
		}
		if cap(cc.out) > 16<<10 {
			t.Fatalf("output buffer of %d bytes for a %d-partition fetch, want the fields only", cap(cc.out), parts)
		}
		if i == 0 {
			firstCap = cap(cc.out)
			t.Logf("%d-byte output buffer for %d record bytes", firstCap, cc.pending.bytes)
		} else if cap(cc.out) != firstCap {
			t.Fatalf("output buffer regrown from %d to %d bytes", firstCap, cap(cc.out))
		}
		cc.discardOutput()
	}
}

// TestFetchClientGoneMidSend: a client that asks for a large fetch and
// stops reading leaves the broker blocked part way through writing it
// from the mapping.
// When the client then resets the connection, keeps it open but reads
// nothing for IdleTimeout (while it goes on sending requests, so that
// its reader is never idle), or the broker shuts down, the send ends,
// the connection closes and its storage reads are released: the deleted
// topic's files go away, other clients are served, and the leak check
// (newBroker) finds no read result dropped unreleased.
func TestFetchClientGoneMidSend(t *testing.T) {
	t.Parallel()
	// dropped waits for the broker to drop the connection, then deletes
	// the topic and waits for its files to go.
	dropped := func(t *testing.T, b *Broker) {
		waitFor(t, 10*time.Second, "the broker to drop the connection", func() bool {
			b.connMu.Lock()
			defer b.connMu.Unlock()
			return len(b.conns) == 0
		})
		apiVersionsOK(t, b)
		id := b.topics.lookup("big").id
		if _, err := newAdmin(t, b).DeleteTopic(testCtx(t, 10*time.Second), "big"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		dir := b.topics.topicDir(id)
		waitFor(t, 10*time.Second, "the deleted topic's files to be removed", func() bool {
			_, err := os.Stat(dir)
			return errors.Is(err, os.ErrNotExist)
		})
	}
	tests := []struct {
		name string
		idle time.Duration // Config.IdleTimeout; 0 for the default
		end  func(t *testing.T, b *Broker, c *net.TCPConn)
	}{
		{"client resets", 0, func(t *testing.T, b *Broker, c *net.TCPConn) {
			_ = c.SetLinger(0) // close with RST
			c.Close()
			dropped(t, b)
		}},
		{"client stops reading", time.Second, func(t *testing.T, b *Broker, c *net.TCPConn) {
			// Requests keep arriving, so only the unread response can
			// end the connection.
			stop := make(chan struct{})
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				for corr := int32(2); ; corr++ {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					_ = c.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := c.Write(requestFrame(kmsg.NewPtrApiVersionsRequest(), corr)); err != nil {
						return
					}
				}
			}()
			defer func() { close(stop); <-sent }()
			dropped(t, b)
		}},
		{"broker closes", 0, func(t *testing.T, b *Broker, _ *net.TCPConn) {
			start := time.Now()
			if err := b.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("Close took %v with a send blocked", d)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBroker(t, func(c *Config) {
				c.Storage.SegmentBytes = 32 << 20
				if tt.idle > 0 {
					c.IdleTimeout = tt.idle
				}
			})
			produceBulk(t, b, "big", 1, 24<<20)
			d := net.Dialer{Timeout: 5 * time.Second}
			nc, err := d.Dial("tcp", b.Addr())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			c := nc.(*net.TCPConn)
			defer c.Close()
			_ = c.SetReadBuffer(4 << 10)
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Write(requestFrame(fetchAll("big", 1, 50<<20), 1)); err != nil {
				t.Fatalf("write: %v", err)
			}
			var head [8]byte
			if _, err := io.ReadFull(c, head[:]); err != nil {
				t.Fatalf("read response head: %v", err)
			}
			if size := binary.BigEndian.Uint32(head[:]); size < 20<<20 {
				t.Fatalf("response of %d bytes, want the whole 24 MiB", size)
			}
			// The socket buffers hold far less than 24 MiB: the send
			// is blocked until the client reads or goes.
			time.Sleep(100 * time.Millisecond)
			tt.end(t, b, c)
		})
	}
}

// TestFetchWhileSegmentsRoll: a consumer tails a partition while a
// producer appends to it and segments roll every few batches, so fetches
// read active segments that are sealed (trimmed, remapped) before or
// while their bytes are sent; every record arrives intact and in order.
func TestFetchWhileSegmentsRoll(t *testing.T) {
	t.Parallel()
	b := newBroker(t, func(c *Config) { c.Storage.SegmentBytes = 16 << 10 })
	ctx := testCtx(t, 60*time.Second)
	if _, err := newAdmin(t, b).CreateTopic(ctx, 1, 1, nil, "rolling"); err != nil {
		t.Fatalf("create: %v", err)
	}
	cons := newClient(t, b, kgo.ConsumeTopics("rolling"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	prod := newClient(t, b, kgo.DefaultProduceTopic("rolling"), kgo.ProducerLinger(time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))
	const n = 2000
	produced := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < n && err == nil; i += 20 {
			var rs []*kgo.Record
			for j := i; j < i+20; j++ {
				rs = append(rs, &kgo.Record{Value: append(fmt.Appendf(nil, "%08d:", j), bytes.Repeat([]byte{byte(j)}, 300)...)})
			}
			err = prod.ProduceSync(context.Background(), rs...).FirstErr()
		}
		produced <- err
	}()
	for next := 0; next < n; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after %d records: %v", next, err)
		}
		for _, r := range fs.Records() {
			want := append(fmt.Appendf(nil, "%08d:", next), bytes.Repeat([]byte{byte(next)}, 300)...)
			if r.Offset != int64(next) || !bytes.Equal(r.Value, want) {
				t.Fatalf("record at offset %d is not record %d as produced", r.Offset, next)
			}
			next++
		}
	}
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}
	// 2000 records of about 330 bytes in 16 KiB segments.
	files, err := filepath.Glob(filepath.Join(b.topics.partitionDir(b.topics.lookup("rolling").id, 0), "*.log"))
	if err != nil || len(files) < 20 {
		t.Fatalf("%d segment files (%v), want the partition to have rolled at least 20 times", len(files), err)
	}
}

// TestZeroCopyFetchStillChecksSealedSegments: after a clean restart the
// sealed segments are loaded unverified, and the first fetch that reaches
// one CRC-checks it (item 3 of issue 10); the zero-copy path keeps that:
// a segment with a flipped record byte is a storage error for the
// partition, and the segments before it are served intact.
func TestZeroCopyFetchStillChecksSealedSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	small := func(c *Config) { c.DataDir, c.Storage.SegmentBytes = dir, 16<<10 }
	b := newBroker(t, small)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("flip"), kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	ctx := testCtx(t, 30*time.Second)
	for i := range 200 { // one record a batch, 200 batches of about 1.1 KiB
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: bytes.Repeat([]byte{byte(i)}, 1<<10)}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cl.Close()
	pdir := b.topics.partitionDir(b.topics.lookup("flip").id, 0)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	segs, err := filepath.Glob(filepath.Join(pdir, "*.log"))
	if err != nil || len(segs) < 3 {
		t.Fatalf("%d segments (%v), want at least 3", len(segs), err)
	}
	var damagedBase int64 // the second segment's base offset, from its name
	if _, err := fmt.Sscanf(filepath.Base(segs[1]), "%d.log", &damagedBase); err != nil {
		t.Fatalf("segment name %s: %v", segs[1], err)
	}
	f, err := os.OpenFile(segs[1], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	if _, err := f.ReadAt(one[:], 100); err != nil { // in the first batch's record
		t.Fatal(err)
	}
	one[0] ^= 0xff
	if _, err := f.WriteAt(one[:], 100); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b = newBroker(t, small)
	fetch := func(off int64) kmsg.FetchResponseTopicPartition {
		req := fetchAll("flip", 1, 1<<20)
		req.Topics[0].Partitions[0].FetchOffset = off
		return rawRequest(t, b, req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	if p := fetch(0); p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch before the damage: error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
	if p := fetch(damagedBase); p.ErrorCode != kerr.KafkaStorageError.Code || len(p.RecordBatches) != 0 {
		t.Fatalf("fetch at the damaged batch: error %d with %d bytes, want KAFKA_STORAGE_ERROR and none", p.ErrorCode, len(p.RecordBatches))
	}
}
